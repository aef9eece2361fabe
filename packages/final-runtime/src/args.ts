// docker's command line: `hull run [OPTIONS] IMAGE [COMMAND] [ARG...]`.
// The parser is the one every hull CLI and chapter step shares (01-uts's
// options.ts): an option table per command, parsed and turned into help
// text from the same table. It loads without koffi, so `hull version` and
// `hull ps --help` stay cheap.
export {
  boolOption,
  helpText,
  intOption,
  listOption,
  type OptionSpec,
  type OptionSpecs,
  type OptionValues,
  optionsHelp,
  type ParsedArgs,
  parseOptions,
  requireOptions,
  stringOption,
  usageSynopsis,
} from '@hull/01-uts/options';
