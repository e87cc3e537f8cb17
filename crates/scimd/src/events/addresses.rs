//! Which addresses a webhook may not reach: every block of IANA's IPv4 and
//! IPv6 Special-Purpose Address Registries (RFC 6890 and its updates, as
//! published in 2025), multicast, the reserved IPv6 space outside global
//! unicast (2000::/3), and IPv4 carried inside IPv6 (mapped, compatible,
//! translated, NAT64, 6to4, Teredo) unpacked and judged as IPv4.
//!
//! The whole registry is refused, not only its "not globally reachable"
//! rows: no product's webhook receiver lives on an anycast relay, a
//! benchmarking network or a documentation prefix, and a machine may well
//! have its own interface there (a test network in 192.0.2.0/24 did).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 blocks, with the registry's name for each.
const V4_SPECIAL: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private-use (10.0.0.0/8)"),
    (0x6440_0000, 10, "shared address space (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xa9fe_0000, 16, "link-local (169.254.0.0/16)"),
    (0xac10_0000, 12, "private-use (172.16.0.0/12)"),
    (0xc000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
    (0xc000_0200, 24, "documentation, TEST-NET-1 (192.0.2.0/24)"),
    (0xc01f_c400, 24, "AS112-v4 (192.31.196.0/24)"),
    (0xc034_c100, 24, "AMT (192.52.193.0/24)"),
    (0xc058_6300, 24, "deprecated 6to4 relay anycast (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private-use (192.168.0.0/16)"),
    (0xc0af_3000, 24, "direct delegation AS112 service (192.175.48.0/24)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation, TEST-NET-2 (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation, TEST-NET-3 (203.0.113.0/24)"),
    // From IANA's multicast registry, not the special-purpose one.
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4), including the limited broadcast address"),
];

/// IPv6 blocks inside 2000::/3 (everything outside it is refused as reserved
/// or special unless it carries IPv4 that is unpacked first).
const V6_SPECIAL: &[(u128, u8, &str)] = &[
    (0x2001_0000 << 96, 23, "IETF protocol assignments, Teredo among them (2001::/23)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x2620_004f_8000 << 80, 48, "direct delegation AS112 service (2620:4f:8000::/48)"),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
];

/// Why a webhook may not be sent to `ip` (the registry's name for its
/// block), or `None` for an ordinary public address.
pub(super) fn special_use(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_special(v4).map(str::to_string),
        IpAddr::V6(v6) => v6_special(v6),
    }
}

fn v4_special(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_SPECIAL.iter().find(|(net, len, _)| bits >> (32 - len) == net >> (32 - len)).map(|(_, _, name)| *name)
}

fn v6_special(ip: Ipv6Addr) -> Option<String> {
    let bits = u128::from(ip);
    let within = |net: u128, len: u8| bits >> (128 - len) == net >> (128 - len);
    let carried = |v4: u32, how: &str| {
        v4_special(Ipv4Addr::from(v4))
            .map(|name| format!("{how} carrying the IPv4 address {}, {name}", Ipv4Addr::from(v4)))
    };
    let low32 = bits as u32;
    if ip.is_unspecified() {
        return Some("the unspecified address (::/128)".into());
    }
    if ip.is_loopback() {
        return Some("loopback (::1/128)".into());
    }
    // IPv4-mapped ::ffff:0:0/96 and IPv4-translated ::ffff:0:0:0/96 (SIIT).
    if within(0xffff << 32, 96) {
        return carried(low32, "IPv4-mapped IPv6");
    }
    if within(0xffff << 48, 96) {
        return carried(low32, "IPv4-translated IPv6");
    }
    // NAT64's well-known prefix: a DNS64 resolver gives public IPv4 hosts
    // these addresses on IPv6-only networks, so it is judged by what it carries.
    if within(0x0064_ff9b << 96, 96) {
        return carried(low32, "NAT64 (64:ff9b::/96)");
    }
    if within(0x0064_ff9b_0001 << 80, 48) {
        return Some("local-use IPv4/IPv6 translation (64:ff9b:1::/48)".into());
    }
    // 6to4: the IPv4 address of the site is bits 16 to 48.
    if within(0x2002 << 112, 16) {
        let v4 = (bits >> 80) as u32;
        return Some(carried(v4, "6to4 (2002::/16)").unwrap_or_else(|| "6to4 (2002::/16)".into()));
    }
    // Teredo: the server's IPv4 address, then the client's with its bits flipped.
    if within(0x2001_0000 << 96, 32) {
        let server = (bits >> 64) as u32;
        let teredo = "Teredo (2001::/32)";
        return Some(carried(server, teredo).or_else(|| carried(!low32, teredo)).unwrap_or_else(|| teredo.into()));
    }
    if within(0, 96) {
        // IPv4-compatible ::a.b.c.d (deprecated), ::/128 and ::1 are above.
        return Some(carried(low32, "IPv4-compatible IPv6").unwrap_or_else(|| "IPv4-compatible IPv6 (::/96)".into()));
    }
    if !within(0x2000 << 112, 3) {
        let name = match bits >> 120 {
            0xff => "multicast (ff00::/8)",
            0xfe if within(0xfe80 << 112, 10) => "link-local (fe80::/10)",
            0xfe if within(0xfec0 << 112, 10) => "deprecated site-local (fec0::/10)",
            0xfc | 0xfd => "unique local (fc00::/7)",
            0x01 if within(0x0100 << 112, 64) => "discard-only (100::/64)",
            _ => "reserved outside global unicast (2000::/3)",
        };
        return Some(name.into());
    }
    V6_SPECIAL.iter().find(|(net, len, _)| within(*net, *len)).map(|(_, _, name)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::special_use;
    use std::net::IpAddr;

    fn judged(addr: &str) -> Option<String> {
        special_use(addr.parse::<IpAddr>().unwrap_or_else(|e| panic!("{addr}: {e}")))
    }

    #[test]
    fn every_special_use_block_is_refused() {
        for addr in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.10",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.1.1",
            "192.175.48.6",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:0808:0808::1",
            "2620:4f:8000::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(judged(addr).is_some(), "{addr} should be refused");
        }
    }

    #[test]
    fn ordinary_public_addresses_pass() {
        for addr in
            ["1.1.1.1", "8.8.8.8", "93.184.216.34", "100.128.0.1", "192.0.3.1", "2606:4700::1111", "64:ff9b::808:808"]
        {
            assert_eq!(judged(addr), None, "{addr} is public");
        }
    }

    #[test]
    fn carried_ipv4_is_named_in_the_reason() {
        let why = judged("2002:a9fe:a9fe::1").unwrap_or_default();
        assert!(why.contains("169.254.169.254") && why.contains("link-local"), "{why}");
        let why = judged("2001:0:4136:e378:8000:63bf:80ff:fffe").unwrap_or_default();
        assert!(why.contains("Teredo"), "{why}");
    }
}
