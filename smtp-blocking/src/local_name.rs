//! The default EHLO name: this host's fully qualified domain name, as smtplib's `getfqdn()`.

use std::net::IpAddr;

use smtp_proto::Domain;

/// This host's FQDN, if one can be found without DNS: the host name when it has a dot, else the
/// first dotted alias of that name in `/etc/hosts` (what the resolver's canonical name usually
/// is). `None` when there is none; callers then use an address literal, as smtplib does.
pub fn fqdn() -> Option<Domain> {
    let name = hostname::get().ok()?.into_string().ok()?;
    let name = name.trim().trim_end_matches('.');
    if name.contains('.') {
        if let Ok(domain) = Domain::try_from(name) {
            return Some(domain);
        }
    }
    #[cfg(unix)]
    if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
        if let Some(found) = dotted_alias(&hosts, name) {
            return Some(found);
        }
    }
    None
}

/// The first name with a dot on the `/etc/hosts` line that lists `short` (case-insensitive).
fn dotted_alias(hosts: &str, short: &str) -> Option<Domain> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let _address = fields.next()?;
        let names: Vec<&str> = fields.collect();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(short)) {
            return None;
        }
        names
            .iter()
            .map(|n| n.trim_end_matches('.'))
            .filter(|n| n.contains('.'))
            .find_map(|n| Domain::try_from(n).ok())
    })
}

/// The hello name to use: `fqdn()`, else the address literal of the local end of the connection,
/// else `localhost`.
pub(crate) fn default_hello_name(local: Option<IpAddr>) -> Domain {
    if let Some(domain) = fqdn() {
        return domain;
    }
    match local {
        Some(ip) => Domain::address_literal(ip),
        None => Domain::try_from("localhost")
            .unwrap_or_else(|_| Domain::address_literal(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dotted_alias_of_the_short_name() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 box.example.org box\n\
                     192.0.2.7\tbox box.example.org  # comment\n";
        let found = dotted_alias(hosts, "BOX").map(|d| d.as_str().to_owned());
        assert_eq!(found.as_deref(), Some("box.example.org"));
        assert!(dotted_alias(hosts, "other").is_none());
        assert!(dotted_alias("127.0.0.1 localhost\n", "localhost").is_none());
    }

    #[test]
    fn falls_back_to_a_valid_domain() {
        let name = default_hello_name(Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))));
        assert!(!name.as_str().is_empty());
        let unix = default_hello_name(None);
        assert!(unix.as_str().contains('.') || unix.as_str() == "localhost");
    }
}
