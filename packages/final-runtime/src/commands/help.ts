// `--help` for the container commands: the usage text on stdout, exit 0, as docker does.
export function help(args: string[], text: string): boolean {
  if (!args.includes('--help')) return false;
  process.stdout.write(text);
  return true;
}
