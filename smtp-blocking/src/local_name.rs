//! The default EHLO name: this host's fully qualified domain name, as smtplib's `getfqdn()`.

use smtp_proto::Domain;

/// This host's FQDN, if one can be found without DNS: the host name when it has a dot, else the
/// first dotted alias of that name in `/etc/hosts` (what the resolver's canonical name usually
/// is). `None` when there is none; callers then use an address literal, as smtplib does. The
/// rule is [`smtp_proto::session::fqdn_from`]; this reads what it decides from.
pub fn fqdn() -> Option<Domain> {
    let name = hostname::get().ok()?;
    let hosts = std::fs::read_to_string("/etc/hosts").ok();
    smtp_proto::session::fqdn_from(&name.to_string_lossy(), hosts.as_deref())
}
