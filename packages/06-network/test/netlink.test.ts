// Unit tests, no root: the bytes we send and the bytes we parse.
import { describe, expect, it } from 'vitest';
import {
  attrString,
  containerResolvConf,
  encodeMessage,
  hexdump,
  IFA_BROADCAST,
  IFA_LOCAL,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  IFF_UP,
  ipv4String,
  natScript,
  netlinkError,
  newAddress,
  newBridge,
  newDefaultRoute,
  newVeth,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  parseAttrs,
  parseError,
  parseIfinfomsg,
  parseMessages,
  parsePublish,
  publishConflict,
  publishProblem,
  parseSubnet,
  addressProblem,
  containerAddresses,
  gatewayOf,
  RTA_GATEWAY,
  RTA_OIF,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  setLinkMaster,
  setLinkNetns,
  setLinkUp,
  VETH_INFO_PEER,
  vethName,
  bridgeNameProblem,
  hostsFile,
} from '../src/index.js';
import { SyscallError } from '@hull/sys';

const encode = (r: ReturnType<typeof newBridge>, seq = 1) => encodeMessage(r.type, r.flags, seq, r.header, r.attrs);

describe('netlink: encoding requests', () => {
  it('encodes `ip link add hull0 type bridge` byte for byte (the hexdump in docs/06-network.md)', () => {
    const msg = encode(newBridge('hull0'));
    expect(hexdump(msg)).toBe(
      [
        '0000: 3c000000 10000506 01000000 00000000  <...............',
        '0010: 00000000 00000000 00000000 00000000  ................',
        '0020: 0a000300 68756c6c 30000000 10001200  ....hull0.......',
        '0030: 0b000100 62726964 67650000           ....bridge..',
      ].join('\n'),
    );
    const [m] = parseMessages(msg);
    expect(m).toMatchObject({ type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq: 1, pid: 0 });
  });

  it('nests the veth peer as an ifinfomsg + attributes inside LINKINFO/INFO_DATA/VETH_INFO_PEER', () => {
    const pid = 1000 + Math.floor(Math.random() * 100000);
    const [m] = parseMessages(encode(newVeth('hull0a1b2c', 'eth0', { pid })));
    const attrs = parseAttrs(m!.payload.subarray(16));
    expect(attrString(attrs.get(IFLA_IFNAME))).toBe('hull0a1b2c');
    const info = parseAttrs(attrs.get(IFLA_LINKINFO)!);
    expect(attrString(info.get(IFLA_INFO_KIND))).toBe('veth');
    const peer = parseAttrs(info.get(IFLA_INFO_DATA)!).get(VETH_INFO_PEER)!;
    expect(parseIfinfomsg(peer).index).toBe(0);
    const peerAttrs = parseAttrs(peer.subarray(16));
    expect(attrString(peerAttrs.get(IFLA_IFNAME))).toBe('eth0');
    expect(peerAttrs.get(IFLA_NET_NS_PID)!.readUInt32LE(0)).toBe(pid);
  });

  it('sets flags through ifi_flags/ifi_change and the master and netns through attributes', () => {
    const up = parseIfinfomsg(setLinkUp(7).header);
    expect(up).toMatchObject({ index: 7, flags: IFF_UP, change: IFF_UP });
    expect(parseIfinfomsg(setLinkUp(7, false).header)).toMatchObject({ flags: 0, change: IFF_UP });
    expect(setLinkMaster(7, 3).attrs).toEqual([{ type: IFLA_MASTER, value: Buffer.from([3, 0, 0, 0]) }]);
    expect(setLinkNetns(7, { fd: 12 }).attrs[0]!.type).toBe(IFLA_NET_NS_FD);
    expect(setLinkNetns(7, { pid: 12 }).attrs[0]!.type).toBe(IFLA_NET_NS_PID);
  });

  it('encodes an IPv4 address and a default route in network byte order', () => {
    const addr = newAddress(9, '10.77.0.2', 24);
    expect(addr.type).toBe(RTM_NEWADDR);
    const [m] = parseMessages(encodeMessage(addr.type, addr.flags, 5, addr.header, addr.attrs));
    expect([...m!.payload.subarray(0, 8)]).toEqual([2, 24, 0, 0, 9, 0, 0, 0]);
    const attrs = parseAttrs(m!.payload.subarray(8));
    expect(ipv4String(attrs.get(IFA_LOCAL)!)).toBe('10.77.0.2');
    expect(ipv4String(attrs.get(IFA_BROADCAST)!)).toBe('10.77.0.255');
    const route = newDefaultRoute('10.77.0.1', 9);
    expect(route.type).toBe(RTM_NEWROUTE);
    const r = parseAttrs(encodeMessage(route.type, route.flags, 6, route.header, route.attrs).subarray(16 + 12));
    expect(ipv4String(r.get(RTA_GATEWAY)!)).toBe('10.77.0.1');
    expect(r.get(RTA_OIF)!.readUInt32LE(0)).toBe(9);
  });
});

/** An NLMSG_ERROR as the kernel sends it: error, the echoed request header, optional extended-ack attributes. */
function errorReply(errno: number, request: Buffer, opts: { capped?: boolean; text?: string } = {}): Buffer {
  const echoed = opts.capped ? request.subarray(0, 16) : request;
  const tlv = opts.text ? Buffer.concat([Buffer.from([0, 0, 1, 0]), Buffer.from(`${opts.text}\0`)]) : Buffer.alloc(0);
  if (opts.text) tlv.writeUInt16LE(4 + opts.text.length + 1, 0);
  const padded = Buffer.concat([tlv, Buffer.alloc((4 - (tlv.length % 4)) % 4)]);
  const body = Buffer.concat([Buffer.alloc(4), echoed, padded]);
  body.writeInt32LE(-errno, 0);
  const flags = (opts.capped ? NLM_F_CAPPED : 0) | (opts.text ? NLM_F_ACK_TLVS : 0);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(NLMSG_ERROR, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(request.readUInt32LE(8), 8);
  return Buffer.concat([hdr, body]);
}

describe('netlink: parsing replies and errors', () => {
  const request = encode(newBridge('hull0'), 42);

  it('reads errno 0 as the ACK', () => {
    const [m] = parseMessages(errorReply(0, request));
    expect(m!.seq).toBe(42);
    expect(parseError(m!)).toEqual({ errno: 0, requestType: RTM_NEWLINK });
  });

  it('turns an error into a SyscallError named after the request, with the errno name', () => {
    const [m] = parseMessages(errorReply(17, request));
    const err = netlinkError(parseError(m!), ['hull0', 'bridge']);
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.code).toBe('EEXIST');
    expect(err.message).toBe('RTM_NEWLINK("hull0", "bridge"): EEXIST (File exists)');
  });

  it("uses the kernel's extended-ack text, with a full or a capped echo", () => {
    for (const capped of [false, true]) {
      const [m] = parseMessages(errorReply(95, request, { capped, text: 'Unknown device type' }));
      const err = netlinkError(parseError(m!), ['x', 'nosuch']);
      expect(err.errno).toBe(95);
      expect(err.message).toMatch(/^RTM_NEWLINK\("x", "nosuch"\): E(OPNOTSUPP|NOTSUP) \(Unknown device type\)$/);
    }
  });

  it('splits several messages in one datagram and refuses truncated ones', () => {
    const two = Buffer.concat([errorReply(0, request), errorReply(1, request)]);
    expect(parseMessages(two).map((m) => parseError(m).errno)).toEqual([0, 1]);
    expect(() => parseMessages(two.subarray(0, two.length - 3))).toThrow(/truncated message/);
    const attrs = encode(newBridge('hull0')).subarray(32);
    expect(() => parseAttrs(attrs.subarray(0, 6))).toThrow(/truncated attribute/);
    expect(() => parseError({ ...parseMessages(request)[0]!, type: NLMSG_ERROR, payload: Buffer.alloc(8) })).toThrow(/truncated NLMSG_ERROR/);
  });
});

describe('addresses, names, NAT script, DNS files', () => {
  it('parses subnets and refuses bad ones', () => {
    const s = parseSubnet('10.77.0.0/24');
    expect(gatewayOf(s)).toBe('10.77.0.1');
    const all = [...containerAddresses(s)];
    expect(all[0]).toBe('10.77.0.2');
    expect(all.at(-1)).toBe('10.77.0.254');
    expect(all).toHaveLength(253);
    expect(() => parseSubnet('10.77.0.1/24')).toThrow(/host bits are set/);
    expect(() => parseSubnet('10.77.0.0/31')).toThrow(/between 8 and 30/);
    expect(() => parseSubnet('10.77.0/24')).toThrow(/A.B.C.D\/N/);
  });

  it('says why an address cannot be a container address', () => {
    const s = parseSubnet('10.77.0.0/24');
    expect(addressProblem(s, '10.77.0.9')).toBeNull();
    expect(addressProblem(s, '10.78.0.9')).toMatch(/outside the subnet 10.77.0.0\/24/);
    expect(addressProblem(s, '10.77.0.1')).toMatch(/gateway/);
    expect(addressProblem(s, '10.77.0.255')).toMatch(/broadcast/);
    expect(addressProblem(s, '10.77.0.0')).toMatch(/network address/);
  });

  it('keeps bridge and veth names within IFNAMSIZ and our prefix', () => {
    expect(bridgeNameProblem('hull0')).toBeNull();
    expect(bridgeNameProblem('hullabcdefgh')).toMatch(/1 to 7/);
    expect(bridgeNameProblem('docker0')).toMatch(/must be "hull"/);
    const v = vethName('hullab12cd');
    expect(v).toMatch(/^hullab12cd[0-9a-f]{5}$/);
    expect(vethName('hull0')).toHaveLength(15);
  });

  it('writes one atomic nft script: masquerade for the subnet, only in our table', () => {
    const script = natScript('hullab12cd', 'hullab12cd', parseSubnet('10.231.4.0/24'));
    expect(script.split('\n').slice(0, 3)).toEqual(['table ip hullab12cd', 'delete table ip hullab12cd', 'table ip hullab12cd {']);
    expect(script).toContain('ip saddr 10.231.4.0/24 oifname != "hullab12cd" masquerade');
    expect(script).not.toMatch(/table (inet|ip) (?!hullab12cd)/);
  });

  it('replaces a 127.x stub resolver with the upstream servers', () => {
    const stub = '# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
    const upstream = 'nameserver 192.0.2.53\nnameserver 198.51.100.53\nsearch lan\n';
    expect(containerResolvConf(stub, upstream)).toBe('# generated by hull from the host\'s upstream servers\nnameserver 192.0.2.53\nnameserver 198.51.100.53\nsearch lan\n');
    expect(containerResolvConf('nameserver 192.0.2.1\n', upstream)).toContain('nameserver 192.0.2.1');
    expect(containerResolvConf(stub, null)).not.toContain('127.0.0.53');
    expect(hostsFile('box', '10.77.0.5')).toContain('10.77.0.5\tbox\n');
  });

  it('parses --publish', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:53:5353/udp')).toEqual({ hostIp: '127.0.0.1', hostPort: 53, containerPort: 5353, protocol: 'udp' });
    expect(parsePublish('0.0.0.0:80:80/tcp')).toEqual({ hostPort: 80, containerPort: 80, protocol: 'tcp' });
    for (const bad of ['8080', '0:80', '80:70000', 'a:b', '1:2:3', '256.0.0.1:80:80', '80:80/sctp', '80:80/', '::1:80:80']) expect(parsePublish(bad), bad).toBeNull();
    expect(publishProblem('80:80/sctp')).toBe('protocol "sctp": use tcp or udp');
    expect(publishConflict([parsePublish('80:80')!, parsePublish('80:81/udp')!, parsePublish('127.0.0.1:81:81')!, parsePublish('127.0.0.2:81:81')!])).toBeNull();
    expect(publishConflict([parsePublish('127.0.0.1:80:80/udp')!, parsePublish('80:81/udp')!])).toBe('127.0.0.1:80:80/udp and 80:81/udp both want host port 80/udp');
  });
});
