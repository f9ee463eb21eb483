/** What the command-line tools print: results on stdout, progress and problems on stderr. */
export const out = (text: string): void => void process.stdout.write(`${text}\n`);
export const err = (text: string): void => void process.stderr.write(`${text}\n`);
