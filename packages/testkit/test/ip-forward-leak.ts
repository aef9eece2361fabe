// Run by leftovers.test.ts inside a network and mount namespace of its own
// (unshare --net --mount, a tmpfs on /run/hull), where flipping ip_forward
// and rewriting chapter 06's record of it touch nobody else's bridge. Prints
// one JSON line: what the leftover check reported for each leak.
import { rmSync, writeFileSync } from 'node:fs';
import { hostSnapshot, leftovers } from '../src/index.ts';

const SWITCH = '/proc/sys/net/ipv4/ip_forward';
const RECORD = '/run/hull/ip_forward.before';

writeFileSync(SWITCH, '0\n');
const before = hostSnapshot();
writeFileSync(SWITCH, '1\n');
const flipped = leftovers(before);
writeFileSync(SWITCH, '0\n');

writeFileSync(RECORD, '0\n');
const withRecord = hostSnapshot();
writeFileSync(RECORD, '1\n');
const recordRewritten = leftovers(withRecord);
rmSync(RECORD);

console.log(JSON.stringify({ flipped, recordRewritten, restored: leftovers(before) }));
