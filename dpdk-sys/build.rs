//! Build script of `dpdk-sys`.
//!
//! Without the `required` feature it does nothing and the crate is empty: a workspace
//! build then needs neither DPDK nor libclang. With it, it finds the system DPDK through
//! pkg-config (`libdpdk`, 22.11 or later), compiles the C shim against its headers,
//! generates the bindings with bindgen and links the shared DPDK libraries. A missing
//! DPDK or libclang stops the build with one line saying what to install.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "required")]
    dpdk::build();
}

#[cfg(feature = "required")]
mod dpdk {
    use std::env;
    use std::path::PathBuf;
    use std::process::{exit, Command};

    /// The oldest DPDK whose API the shim and the backend are written against.
    const MIN_VERSION: &str = "22.11";

    /// Stop the build with one line (cargo shows it under `--- stderr`).
    fn fail(msg: &str) -> ! {
        eprintln!("error: {msg}");
        exit(1);
    }

    pub fn build() {
        for f in ["src/shim.c", "src/shim.h", "src/wrapper.h"] {
            println!("cargo:rerun-if-changed={f}");
        }
        println!("cargo:rerun-if-env-changed=PKG_CONFIG");

        // Found first, linked last: the shim's static library must come before the shared
        // librte_* libraries on the link line, or `--as-needed` (which rustc passes) drops
        // the ones only the shim calls.
        let lib = match pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .cargo_metadata(false)
            .probe("libdpdk")
        {
            Ok(lib) => lib,
            Err(e) => {
                // pkg-config's own words, one line: "Package libdpdk was not found ...",
                // "Requested 'libdpdk >= 22.11' but version ... is ...".
                let text = e.to_string();
                let why = text
                    .lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("Package") || l.starts_with("Requested"))
                    .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
                    .unwrap_or("");
                fail(&format!(
                    "libdpdk not found: apt-get install libdpdk-dev \
                     (needs DPDK {MIN_VERSION} or later; pkg-config: {why})"
                ))
            }
        };
        println!("cargo:version={}", lib.version);

        // The raw flags, because DPDK's carry `-include rte_config.h` and `-march=...`,
        // which its headers need and which the pkg-config crate does not pass on.
        let cflags = raw_cflags();

        let mut cc = cc::Build::new();
        cc.file("src/shim.c")
            .include("src")
            .warnings(true)
            .opt_level(3);
        for f in &cflags {
            cc.flag(f);
        }
        cc.compile("dpdk_sys_shim");
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        for l in &lib.libs {
            println!("cargo:rustc-link-lib={l}");
        }

        let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
        let builder = bindgen::Builder::default()
            .header("src/wrapper.h")
            .clang_arg("-Isrc")
            .clang_args(&cflags)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            // Doc comments of DPDK hold indented text that rustdoc would run as tests.
            .generate_comments(false)
            .layout_tests(false)
            .derive_default(true)
            .allowlist_function("dpdk_shim_.*")
            .allowlist_function("rte_eal_init")
            .allowlist_function("rte_eal_cleanup")
            .allowlist_function("rte_strerror")
            .allowlist_function("rte_socket_id")
            .allowlist_function("rte_dev_probe")
            .allowlist_function("rte_dev_remove")
            .allowlist_function("rte_pktmbuf_pool_create")
            .allowlist_function("rte_pktmbuf_free_bulk")
            .allowlist_function("rte_mempool_free")
            .allowlist_function("rte_mempool_avail_count")
            .allowlist_function("rte_mempool_in_use_count")
            .allowlist_function("rte_eth_dev_configure")
            .allowlist_function("rte_eth_dev_info_get")
            .allowlist_function("rte_eth_dev_adjust_nb_rx_tx_desc")
            .allowlist_function("rte_eth_rx_queue_setup")
            .allowlist_function("rte_eth_tx_queue_setup")
            .allowlist_function("rte_eth_dev_start")
            .allowlist_function("rte_eth_dev_stop")
            .allowlist_function("rte_eth_dev_close")
            .allowlist_function("rte_eth_dev_is_valid_port")
            .allowlist_function("rte_eth_dev_get_port_by_name")
            .allowlist_function("rte_eth_dev_get_name_by_port")
            .allowlist_function("rte_eth_dev_socket_id")
            .allowlist_function("rte_eth_macaddr_get")
            .allowlist_function("rte_eth_dev_get_mtu")
            .allowlist_function("rte_eth_promiscuous_enable")
            .allowlist_function("rte_eth_stats_get")
            .allowlist_function("rte_eth_link_get_nowait")
            .allowlist_type("dpdk_shim_rx_flag")
            .allowlist_var("RTE_PKTMBUF_HEADROOM")
            .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
            .allowlist_var("RTE_MAX_ETHPORTS")
            .allowlist_var("RTE_ETH_NAME_MAX_LEN")
            .allowlist_var("SOCKET_ID_ANY");
        // bindgen panics when it cannot load libclang: turn that into one line too, without
        // the panic message and backtrace on top of it.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let generated =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.generate()));
        std::panic::set_hook(hook);
        let bindings = match generated {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => fail(&format!("bindgen failed on the DPDK headers: {e}")),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                if msg.contains("libclang") {
                    fail("libclang not found (bindgen needs it): apt-get install libclang-dev")
                }
                fail(&format!("bindgen failed on the DPDK headers: {msg}"))
            }
        };
        bindings
            .write_to_file(out.join("bindings.rs"))
            .unwrap_or_else(|e| fail(&format!("writing the DPDK bindings: {e}")));
    }

    fn raw_cflags() -> Vec<String> {
        let tool = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
        let out = Command::new(&tool)
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|e| fail(&format!("running {tool}: {e}")));
        if !out.status.success() {
            fail(&format!(
                "{tool} --cflags libdpdk: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        // DPDK's flags hold no quoted spaces; `-include rte_config.h` is two words that
        // must stay in order, which a plain split keeps.
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}
