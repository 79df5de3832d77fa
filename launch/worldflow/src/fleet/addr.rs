//! Addresses of the fleet: the coordinator's `ADDR:PORT` and free loopback ports for `fleet local`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};

/// The coordinator's WebSocket port when an address names none (dora's default).
pub const DEFAULT_COORDINATOR_PORT: u16 = dora_core::topics::DORA_COORDINATOR_PORT_WS_DEFAULT;

/// An `--coordinator` / `--listen` value that names no reachable address.
#[derive(Debug, thiserror::Error)]
#[error("`{text}`: expected ADDR:PORT (e.g. 192.168.1.10:6013 or coordinator.local:6013){reason}")]
pub struct AddrError {
    pub text: String,
    pub reason: String,
}

/// Parses `ADDR:PORT`, `ADDR` (dora's default port 6013), `[v6]:PORT` or `host:PORT` (resolved; the first
/// address wins).
pub fn parse_addr(text: &str) -> Result<SocketAddr, AddrError> {
    let t = text.trim();
    let err = |reason: String| AddrError { text: text.to_owned(), reason };
    if t.is_empty() {
        return Err(err(String::new()));
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_COORDINATOR_PORT));
    }
    let with_port = if t.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        t.to_owned()
    } else if t.contains(':') {
        return Err(err(": the port is not a number in 0..=65535".into()));
    } else {
        format!("{t}:{DEFAULT_COORDINATOR_PORT}")
    };
    match with_port.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| err(format!(": `{with_port}` resolves to no address"))),
        Err(e) => Err(err(format!(": cannot resolve `{with_port}`: {e}"))),
    }
}

/// `n` distinct loopback TCP ports that were free a moment ago: each is bound at once and all are released
/// together, so the kernel cannot hand the same port out twice (binding port 0 one at a time can, and two
/// daemons of `fleet local` then asked for the same listen address). Another process may still take one before
/// it is used: callers that bind it report the port in their error.
pub fn free_loopback_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_port() {
        assert_eq!(parse_addr("127.0.0.1:7000").unwrap(), "127.0.0.1:7000".parse().unwrap());
        assert_eq!(parse_addr(" 10.0.0.2 ").unwrap(), SocketAddr::from(([10, 0, 0, 2], DEFAULT_COORDINATOR_PORT)));
        assert_eq!(parse_addr("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(parse_addr("localhost:6100").unwrap().port(), 6100);
    }

    #[test]
    fn bad_addresses_say_what_was_expected() {
        for (text, reason) in [("", "expected ADDR:PORT"), ("host:port", "port is not a number"), ("1.2.3.4:99999", "")]
        {
            let e = parse_addr(text).unwrap_err().to_string();
            assert!(e.contains("expected ADDR:PORT") && e.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn free_ports_are_nonzero_and_distinct() {
        let ports = free_loopback_ports(16).unwrap();
        assert!(ports.iter().all(|&p| p != 0));
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
