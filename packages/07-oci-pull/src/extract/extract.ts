// Our own layer extractor: tar-stream parses, layer.ts writes each entry:
// entries/ holds one file per entry kind, whiteouts.ts the whiteouts, and
// target.ts resolves every path inside the target (see there for how nothing
// in a layer can make us touch a file outside it). This file runs the stream.
//
// See README.md next to this file for the rules and the attacks they stop.
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';
import { LayerExtraction, type TarHeader } from './layer.js';
import { layerLimits, type LayerLimits } from './limits.js';
import { PaxXattrScanner } from './pax.js';
import { decodedXattrs, type Xattrs } from './xattrs.js';

export type ExtractMode = 'overlay' | 'flatten' | 'copy';

/** Who owns an extracted entry, given the tar's uid and gid (`hull cp`: the container's root, or the source's owner mapped). */
export type OwnerOf = (uid: number, gid: number) => { uid: number; gid: number };

export interface ExtractOptions {
  /**
   * 'overlay': the layer is stored on its own as an overlayfs lowerdir, so
   * whiteouts become what overlayfs reads (a 0:0 char device, an opaque xattr).
   * 'flatten': the layer is applied on top of what is already in the target.
   * 'copy': not a layer but a copy (`hull cp`): `.wh.` names are plain
   * files, and an entry naming the root itself ("./") is skipped, so the
   * directory copied into keeps its own owner and mode.
   */
  mode: ExtractMode;
  /**
   * Put every entry under these components of the target (`hull cp` into
   * /srv of a container: the target is the container's root, so symlinks on
   * the way resolve as the container sees them, and under is ["srv"]).
   * They must exist; they are resolved inside the target like any parent.
   */
  under?: string[];
  /** Override the tar's owners (copy mode). */
  owner?: OwnerOf;
  /** Entry count and PAX header size bounds (limits.ts); the defaults when absent. */
  limits?: Pick<LayerLimits, 'maxEntries' | 'maxPaxHeader'>;
}

export interface ExtractResult {
  entries: number;
  warnings: string[];
}

/**
 * Extract one uncompressed layer tar stream into `target`, confined to it.
 * mode 'overlay': the layer is stored on its own as an overlayfs lowerdir
 * (whiteout .wh.NAME -> 0:0 char device NAME, opaque dir .wh..wh..opq ->
 * xattr trusted.overlay.opaque=y on the dir); mode 'flatten': applied on top of
 * what is already in target (whiteouts delete the lower entry, opaque empties
 * the dir first). A refused entry rejects with a ContainerError naming it; the
 * target is then partly written and the caller should discard it.
 */
export async function extractLayer(tar: Readable, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  const layer = new LayerExtraction(target, opts.mode, opts.under ?? [], opts.owner);
  const parser = tarExtract();
  const scanner = new PaxXattrScanner(opts.limits ?? layerLimits(0));
  let sourceError: Error | null = null;
  const onSourceError = (err: Error): void => {
    sourceError = err;
    parser.destroy(err);
  };
  tar.on('error', onSourceError);
  // The scanner refuses an oversized header or one entry too many: that ends the parse too.
  scanner.on('error', onSourceError);
  tar.pipe(scanner).pipe(parser);
  try {
    let index = 0;
    for await (const entry of parser) {
      const header: TarHeader = entry.header;
      // The scanner is upstream of the parser, so it has always seen this entry's header.
      const raw = scanner.entries[index++];
      let xattrs: Xattrs;
      if (raw?.name === header.name) xattrs = raw.xattrs;
      else {
        layer.warnOnce('pax-scanner', `PAX scanner out of step at ${JSON.stringify(header.name)}: binary xattrs may be lost`);
        xattrs = decodedXattrs(header.pax);
      }
      await layer.entry(header, entry, xattrs);
    }
    layer.finish();
    return { entries: layer.entries, warnings: layer.warnings };
  } catch (err) {
    tar.unpipe(scanner);
    scanner.unpipe(parser);
    tar.destroy();
    // A failure upstream (decompression, download) is the caller's to name, not a bad tar.
    if (err instanceof ContainerError || err instanceof SyscallError || (sourceError !== null && err === sourceError)) throw err;
    throw new ContainerError(`layer is not a valid tar: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    tar.off('error', onSourceError);
    scanner.off('error', onSourceError);
    layer.target.close();
  }
}
