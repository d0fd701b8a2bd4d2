//! A private Postfix instance (`master` + `smtpd`, its configuration and queue in a temporary
//! directory) relaying every message over LMTP to an aiosmtpd recorder.

use std::fs;
use std::path::Path;

use super::{
    bounded, free_port, is_root, poll, set_mode, Aiosmtpd, AiosmtpdOptions, Record, ServerProcess,
    TempDir, DELIVERY_LIMIT,
};

const MASTER: &str = "/usr/lib/postfix/sbin/master";

/// `(name, uid, gid)` of the user and group Postfix runs as.
fn ids(file: &str, name: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut fields = l.split(':');
        if fields.next()? != name {
            return None;
        }
        let id = fields.nth(1)?.parse().ok()?;
        let gid = fields.next().and_then(|g| g.parse().ok()).unwrap_or(id);
        Some((id, gid))
    })
}

/// A Postfix instance of its own: `master` in the foreground (`-s -d`: no detaching,
/// logging to its stdout through `postlogd`), started by the test as root (Postfix's
/// master must be root; its daemons run as user `postfix`), configuration and queue in
/// a temporary directory, `smtpd` on 127.0.0.1:<free port>, and every message relayed
/// by Postfix's `lmtp` client to an aiosmtpd LMTP recorder. The system's Postfix (if
/// any) is not touched; nothing listens on port 25.
pub(crate) struct PrivatePostfix {
    // Field order: master stops first, then the recorder, then the directory goes.
    master: ServerProcess,
    recorder: Aiosmtpd,
    port: u16,
    _dir: TempDir,
}

impl PrivatePostfix {
    pub(crate) fn start() -> Self {
        assert!(
            Path::new(MASTER).exists(),
            "{MASTER} is missing: run .ci/install-test-servers.sh (Debian package \
             postfix), or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
        );
        assert!(
            is_root(),
            "Postfix's master daemon must be started as root (as CI does); set \
             SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
        );
        let (uid, _) =
            ids("/etc/passwd", "postfix").expect("user postfix (run .ci/install-test-servers.sh)");
        let (postdrop, _) = ids("/etc/group", "postdrop")
            .expect("group postdrop (run .ci/install-test-servers.sh)");
        let recorder = Aiosmtpd::start(&AiosmtpdOptions {
            lmtp: true,
            smtputf8: true,
            ..AiosmtpdOptions::default()
        });
        let dir = TempDir::new("postfix");
        let base = dir.path();
        let conf = base.join("conf");
        let queue = base.join("queue");
        let data = base.join("data");
        fs::create_dir_all(&conf).expect("conf directory");
        // The queue layout of Postfix's postfix-files, made by hand so that nothing
        // outside this directory is touched (`postfix set-permissions` would also
        // check the system's files).
        make_dir(&queue, 0, 0, 0o755);
        make_dir(&data, uid, 0, 0o700);
        for sub in [
            "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
            "private", "saved", "trace",
        ] {
            make_dir(&queue.join(sub), uid, 0, 0o700);
        }
        make_dir(&queue.join("maildrop"), uid, postdrop, 0o730);
        make_dir(&queue.join("public"), uid, postdrop, 0o710);
        make_dir(&queue.join("pid"), 0, 0, 0o755);

        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            write_config(&conf, &queue, &data, port, recorder.port());
            let mut command = bounded(MASTER);
            command.arg("-c").arg(&conf).args(["-s", "-d"]);
            let log = base.join(format!("postfix-{attempts}.log"));
            let mut master = ServerProcess::spawn("postfix master", command, log);
            if master.listening(port) {
                return Self {
                    master,
                    recorder,
                    port,
                    _dir: dir,
                };
            }
            assert!(
                attempts < 3,
                "Postfix did not start:\n{}",
                master.log_text()
            );
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The first `n` messages Postfix relayed (waits for them, bounded); on a timeout
    /// the panic shows Postfix's log.
    pub(crate) fn records(&self, n: usize) -> Vec<Record> {
        let got = poll(DELIVERY_LIMIT, || {
            let records = self.recorder.read_records();
            (records.len() >= n).then_some(records)
        });
        got.unwrap_or_else(|| {
            panic!(
                "Postfix relayed {} of {n} messages within {DELIVERY_LIMIT:?}; its \
                 log:\n{}",
                self.recorder.read_records().len(),
                self.master.log_text()
            )
        })
    }
}

fn make_dir(path: &Path, uid: u32, gid: u32, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    set_mode(path, mode);
}

/// main.cf and master.cf: smtpd on the loopback port, every recipient relayed over
/// LMTP to the recorder, no DNS, no header rewriting (so that the only change to a
/// message is the `Received:` header smtpd prepends), logging to master's stdout.
fn write_config(conf: &Path, queue: &Path, data: &Path, port: u16, lmtp_port: u16) {
    let main_cf = format!(
        "compatibility_level = 3.6\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         myhostname = postfix.test\n\
         mydomain = test\n\
         mydestination =\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         mynetworks = 127.0.0.0/8\n\
         smtpd_relay_restrictions = permit_mynetworks, reject\n\
         default_transport = lmtp:inet:127.0.0.1:{lmtp_port}\n\
         relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}\n\
         smtp_dns_support_level = disabled\n\
         lmtp_host_lookup = native\n\
         smtpd_peername_lookup = no\n\
         local_header_rewrite_clients =\n\
         smtputf8_enable = yes\n\
         alias_maps =\n\
         alias_database =\n\
         biff = no\n\
         maillog_file = /dev/stdout\n",
        queue = queue.display(),
        data = data.display(),
    );
    let master_cf = format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n\
         cleanup   unix  n - n - 0 cleanup\n\
         qmgr      unix  n - n 300 1 qmgr\n\
         rewrite   unix  - - n - - trivial-rewrite\n\
         bounce    unix  - - n - 0 bounce\n\
         defer     unix  - - n - 0 bounce\n\
         trace     unix  - - n - 0 bounce\n\
         verify    unix  - - n - 1 verify\n\
         flush     unix  n - n 1000? 0 flush\n\
         proxymap  unix  - - n - - proxymap\n\
         smtp      unix  - - n - - smtp\n\
         lmtp      unix  - - n - - lmtp\n\
         error     unix  - - n - - error\n\
         retry     unix  - - n - - error\n\
         discard   unix  - - n - - discard\n\
         anvil     unix  - - n - 1 anvil\n\
         scache    unix  - - n - 1 scache\n\
         postlog   unix-dgram n - n - 1 postlogd\n"
    );
    fs::write(conf.join("main.cf"), main_cf).expect("main.cf");
    fs::write(conf.join("master.cf"), master_cf).expect("master.cf");
    set_mode(conf, 0o755);
    set_mode(&conf.join("main.cf"), 0o644);
    set_mode(&conf.join("master.cf"), 0o644);
}
