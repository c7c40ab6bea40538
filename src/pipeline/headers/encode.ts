// Identity values must arrive as exactly one ASCII value (security.md §5, config.md
// "Identity header values"): '%' and ',' are escaped so a group named "staff,admin"
// stays one group, and control or non-ASCII characters can never split or forge a header.

const SAFE = /^[\x20-\x24\x26-\x2B\x2D-\x7E]*$/;
const HEX = '0123456789ABCDEF';

export function encodeIdentityValue(value: string): string {
  if (SAFE.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x25 && byte !== 0x2c) out += String.fromCharCode(byte);
    else out += '%' + HEX[byte >> 4]! + HEX[byte & 15]!;
  }
  return out;
}

/** Each element encoded on its own, then joined: the separator is the only raw ','. */
export function encodeIdentityList(values: readonly string[]): string {
  return values.map(encodeIdentityValue).join(',');
}
