/**
 * The shape every language's texts must have. Add a key here and the compiler demands it in `ru.ts` and
 * `en.ts` (each is declared as `Texts`, so a missing key or a stray extra key is a type error).
 */
export interface Texts {
  /** The words in a report caption that carry the dashboard link. */
  linkLabel: string;
  /**
   * The message sent instead of a file that is too big for the Bot API upload.
   * @param filename the file's display name, quoted as is (texts are sent without parse_mode).
   * @param size the file's size in bytes.
   * @param limitBytes the upload limit in bytes; defaults to the Bot API's 50 MiB.
   */
  tooLargeNotice(filename: string, size: number, limitBytes?: number): string;
  /** A byte count for people: "63,2 МБ" / "63.2 MB" (binary units, one decimal, none when it is .0). */
  formatSize(bytes: number): string;
}
