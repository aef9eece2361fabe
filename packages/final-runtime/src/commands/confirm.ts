// docker's "Are you sure you want to continue? [y/N]" for the prune commands
// (-f skips it): one line from stdin, and anything but y/yes is a no.
export async function confirm(warning: string): Promise<boolean> {
  process.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData).off('end', done).off('error', done);
      process.stdin.pause();
      resolve(text.split('\n')[0] ?? '');
    };
    process.stdin.on('data', onData).on('end', done).on('error', done);
  });
  return /^\s*y(es)?\s*$/i.test(line);
}

/** docker's units.HumanSize: decimal units, four significant digits ("4.261MB", "0B"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${Number(value.toPrecision(4))}${units[i]}`;
}

/** docker's table writer for ls/df (tabwriter minwidth 10, padding 3). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(10, ...rows.map((r) => (r[i] ?? '').length + 3)));
  return rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('')}\n`).join('');
}
