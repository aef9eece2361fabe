// Layers: decompress by media type, then extract, confined to the target.
export { decompressor } from './decompress.js';
export { extractLayer, type ExtractMode, type ExtractOptions, type ExtractResult, type OwnerOf } from './extract.js';
export { controlCharacter, entryComponents, OPAQUE_WHITEOUT, WHITEOUT_PREFIX, type EntryComponents } from './paths.js';
export { layerLimits, LAYER_CAP, LAYER_FLOOR, LAYER_RATIO, MAX_ENTRIES, MAX_PAX_HEADER, SizeLimit, type LayerLimits } from './limits.js';
