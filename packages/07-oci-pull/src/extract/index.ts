// Layers: decompress by media type, then extract, confined to the target.
export { decompressor } from './decompress.js';
export { extractLayer, type ExtractMode, type ExtractOptions, type ExtractResult } from './extract.js';
export { entryComponents, OPAQUE_WHITEOUT, WHITEOUT_PREFIX, type EntryComponents } from './paths.js';
