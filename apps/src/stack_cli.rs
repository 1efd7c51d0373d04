//! Command-line pieces every app that runs the stack shares: the interface settings
//! (address, gateway, neighbour cache), run length and polling, one-line errors, and the
//! signals that end a run.

use clap::{Args, Parser};
use eth::wire::{Ipv4Addr, MacAddr};
use eth::IfaceConfig;
use nmio::select::BackendArgs;
use nmio::LoopConfig;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Interface and run options shared by the apps.
#[derive(Args, Clone, Debug)]
pub struct StackArgs {
    /// The stack's address and prefix length; for afpacket and tap one the kernel does not
    /// use on that interface [pipe default: 192.0.2.2/24].
    #[arg(long, value_name = "IP/PREFIX")]
    pub addr: Option<String>,
    /// Next hop for destinations outside the subnet.
    #[arg(long, value_name = "IP")]
    pub gateway: Option<Ipv4Addr>,
    /// A permanent neighbour entry (repeatable).
    #[arg(long, value_name = "IP=MAC")]
    pub static_arp: Vec<String>,
    /// Seconds a confirmed neighbour is used before a unicast refresh [default: 30].
    #[arg(long, value_name = "SECS")]
    pub arp_reachable: Option<f64>,
    /// Seconds after its last confirmation that a neighbour entry is removed [default: 60].
    #[arg(long, value_name = "SECS")]
    pub arp_expire: Option<f64>,
    /// Stop after this many seconds (0 or absent: when the built-in work is done, else at
    /// SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Print no per-second stats line.
    #[arg(long)]
    pub quiet: bool,
    /// Never block when idle: spin on the RX ring (lowest latency, one CPU always busy).
    #[arg(long)]
    pub busy_poll: bool,
    /// After a pass that did work, keep polling the rings this many microseconds before
    /// blocking: fewer wake-ups and bigger batches under steady load, at most this much
    /// spinning when it stops (0: block at once) [default: 0; `web`: 50].
    #[arg(long, value_name = "US")]
    pub poll_before_sleep: Option<u64>,
}

impl StackArgs {
    /// The application's own default for `--poll-before-sleep`, where the user gave none.
    pub fn favour_poll_before_sleep(&mut self, us: u64) {
        self.poll_before_sleep.get_or_insert(us);
    }
}

/// [`StackArgs`], checked.
#[derive(Clone, Debug)]
pub struct StackSettings {
    /// Our address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Permanent neighbours.
    pub static_arp: Vec<(Ipv4Addr, MacAddr)>,
    /// Neighbour reachable time.
    pub reachable: Option<Duration>,
    /// Neighbour expiry.
    pub expire: Option<Duration>,
    /// Run length (`None`: until done or signalled).
    pub duration: Option<Duration>,
    /// No per-second stats.
    pub quiet: bool,
    /// Spin instead of blocking when idle.
    pub busy_poll: bool,
    /// How long to keep polling after work before blocking.
    pub idle_spin: Duration,
}

impl StackSettings {
    /// Check `args` for a run on `backend` (the pipe backend has a default address).
    pub fn from_args(args: &StackArgs, backend: &BackendArgs) -> Result<StackSettings, String> {
        let addr = match (&args.addr, backend.backend) {
            (Some(a), _) => a.clone(),
            (None, kind) if kind.in_process() => "192.0.2.2/24".to_string(),
            (None, kind) => {
                return Err(format!(
                    "--backend {} needs --addr IP/PREFIX (an address the kernel does not use on that interface)",
                    kind.name()
                ))
            }
        };
        let (addr, prefix_len) = parse_cidr(&addr)?;
        let static_arp = args
            .static_arp
            .iter()
            .map(|s| parse_static(s))
            .collect::<Result<_, _>>()?;
        let s = StackSettings {
            addr,
            prefix_len,
            gateway: args.gateway,
            static_arp,
            reachable: seconds("--arp-reachable", args.arp_reachable)?,
            expire: seconds("--arp-expire", args.arp_expire)?,
            duration: seconds("--duration", args.duration)?.filter(|d| !d.is_zero()),
            quiet: args.quiet,
            busy_poll: args.busy_poll,
            idle_spin: Duration::from_micros(args.poll_before_sleep.unwrap_or(0)),
        };
        // Check the interface settings before touching the backend, so a mistake in them
        // is reported as such even where the backend could not be opened (the MAC is the
        // port's, later).
        let placeholder = IfaceConfig::new(MacAddr([0x02, 0, 0, 0, 0, 1]), addr, prefix_len);
        s.iface_config(placeholder)
            .validate()
            .map_err(|e| e.to_string())?;
        Ok(s)
    }

    /// `base` (addresses and the port's MAC and MTU) with these settings.
    pub fn iface_config(&self, mut base: IfaceConfig) -> IfaceConfig {
        base.gateway = self.gateway;
        base.arp.static_entries = self.static_arp.clone();
        if let Some(r) = self.reachable {
            base.arp.reachable = r;
        }
        if let Some(e) = self.expire {
            base.arp.expire = e;
        }
        base
    }

    /// The interface configuration for a port with capabilities `caps`.
    pub fn iface_config_for(&self, caps: &nmio::Capabilities) -> IfaceConfig {
        self.iface_config(IfaceConfig::for_port(caps, self.addr, self.prefix_len))
    }

    /// The loop settings (`--busy-poll` turns idle blocking off, `--poll-before-sleep`
    /// sets the spin before it).
    pub fn loop_config(&self) -> LoopConfig {
        LoopConfig {
            idle_block: if self.busy_poll {
                None
            } else {
                LoopConfig::default().idle_block
            },
            idle_spin: self.idle_spin,
            ..LoopConfig::default()
        }
    }

    /// `backend` with the stack's address in it, so that an AF_PACKET port has the kernel
    /// drop the frames meant for this stack after its ring has them (`--kernel-drop`).
    pub fn backend_args(&self, backend: &BackendArgs) -> BackendArgs {
        let mut b = backend.clone();
        b.stack_addrs = vec![self.addr];
        b
    }

    /// One line naming where the stack is up, for stderr at start.
    pub fn describe(&self, backend: &BackendArgs, mac: MacAddr) -> String {
        let gateway = self
            .gateway
            .map(|g| format!(", gateway {g}"))
            .unwrap_or_default();
        let iface = match backend.iface.as_str() {
            "" => String::new(),
            name => format!(" {name}"),
        };
        format!(
            "up on {}{iface}, mac {mac}, {}/{}{gateway}",
            backend.backend.name(),
            self.addr,
            self.prefix_len
        )
    }
}

/// `a.b.c.d/len`; the prefix range itself is checked with the rest of the configuration.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("--addr {s:?}: expected IP/PREFIX, like 192.0.2.2/24");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    let len = u8::try_from(len).map_err(|_| format!("prefix length /{len} is not in 1..=32"))?;
    Ok((ip, len))
}

/// `IP=MAC`, the MAC as six colon- or dash-separated hex octets.
pub fn parse_static(s: &str) -> Result<(Ipv4Addr, MacAddr), String> {
    let bad = || format!("--static-arp {s:?}: expected IP=MAC, like 192.0.2.9=02:00:00:00:00:09");
    let (ip, mac) = s.split_once('=').ok_or_else(bad)?;
    let ip = ip.parse().map_err(|_| bad())?;
    let octets: Vec<u8> = mac
        .split([':', '-'])
        .map(|h| match h.len() {
            1 | 2 => u8::from_str_radix(h, 16).ok(),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let mac = MacAddr::from_bytes(&octets)
        .filter(|_| octets.len() == 6)
        .ok_or_else(bad)?;
    Ok((ip, mac))
}

/// A non-negative number of seconds given to `option`.
pub fn seconds(option: &str, v: Option<f64>) -> Result<Option<Duration>, String> {
    v.map(|s| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| format!("{option} {s}: not a number of seconds (0 or more)"))
    })
    .transpose()
}

/// Another host address of the subnet, for a built-in peer on the pipe: the first that is
/// not `addr`.
pub fn peer_addr(addr: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Addr, String> {
    let a = u32::from(addr);
    let peer = match prefix_len {
        32 => {
            return Err(
                "the pipe demo's peer needs a subnet with room for it (/31 or shorter)".into(),
            )
        }
        31 => a ^ 1,
        p => {
            let net = a & (u32::MAX << (32 - u32::from(p)));
            if net + 1 == a {
                net + 2
            } else {
                net + 1
            }
        }
    };
    Ok(Ipv4Addr::from(peer))
}

/// SIGINT and SIGTERM set [`stop_flag`], so a run ends cleanly (final stats).
pub fn install_signal_handlers(prog: &str) {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop_flag()) {
            eprintln!("{prog}: cannot handle signal {sig}: {e}");
        }
    }
}

/// The flag the signal handlers set, shared with the run loop.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(Default::default).clone()
}

/// Parse the command line; on a mistake print one line (`prog: what`) and exit 2.
pub fn parse_or_exit<C: Parser>(prog: &str) -> C {
    match C::try_parse() {
        Ok(cli) => cli,
        // --help and --version.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("bad arguments");
            eprintln!("{prog}: {}", line.strip_prefix("error: ").unwrap_or(line));
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_static_entries_parse_or_name_the_problem() {
        assert_eq!(
            parse_cidr("10.0.0.2/24"),
            Ok((Ipv4Addr::new(10, 0, 0, 2), 24))
        );
        assert!(parse_cidr("10.0.0.2")
            .unwrap_err()
            .contains("expected IP/PREFIX"));
        assert!(parse_cidr("10.0.0.2/300")
            .unwrap_err()
            .contains("prefix length /300"));
        assert_eq!(
            parse_static("192.0.2.9=2:0:0:0:0:9"),
            Ok((Ipv4Addr::new(192, 0, 2, 9), MacAddr([2, 0, 0, 0, 0, 9])))
        );
        assert!(parse_static("192.0.2.9=02:00:00:00:09").is_err());
        assert!(seconds("--x", Some(-1.0)).unwrap_err().contains("--x -1"));
    }

    #[test]
    fn an_application_default_poll_before_sleep_yields_to_the_users() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            stack: StackArgs,
            #[command(flatten)]
            backend: BackendArgs,
        }
        let spin = |argv: &[&str]| {
            let mut cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
            cli.stack.favour_poll_before_sleep(50);
            let s = StackSettings::from_args(&cli.stack, &cli.backend).unwrap();
            s.loop_config().idle_spin
        };
        assert_eq!(spin(&["x"]), Duration::from_micros(50));
        assert_eq!(spin(&["x", "--poll-before-sleep", "0"]), Duration::ZERO);
        assert_eq!(
            spin(&["x", "--poll-before-sleep", "200"]),
            Duration::from_micros(200)
        );
        // Without an application default: block at once.
        let cli = <Cli as clap::Parser>::try_parse_from(["x"]).unwrap();
        let s = StackSettings::from_args(&cli.stack, &cli.backend).unwrap();
        assert_eq!(s.loop_config().idle_spin, Duration::ZERO);
    }

    #[test]
    fn the_pipe_peer_takes_the_first_free_host_address() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(peer_addr(ip("192.0.2.2"), 24), Ok(ip("192.0.2.1")));
        assert_eq!(peer_addr(ip("192.0.2.1"), 24), Ok(ip("192.0.2.2")));
        assert_eq!(peer_addr(ip("10.0.0.4"), 31), Ok(ip("10.0.0.5")));
        assert!(peer_addr(ip("10.0.0.4"), 32).is_err());
    }
}
