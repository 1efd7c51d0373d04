//! The namespace fixture itself: created, usable, gone after drop, even after a panic.

use tests::netns::{require_root, run, NetNs};

fn ns_exists(name: &str) -> bool {
    run(&["ip", "netns", "list"])
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
fn namespace_and_veth_are_removed_on_drop() {
    if !require_root("namespace_and_veth_are_removed_on_drop", &["ip", "ethtool"]) {
        return;
    }
    let ns = NetNs::new("fix").unwrap();
    let name = ns.name().to_string();
    ns.veth_pair("fa0", "fa1").unwrap();
    assert!(ns
        .exec(&["ip", "link", "show", "fa0"])
        .unwrap()
        .contains("fa0"));
    {
        let _g = ns.enter().unwrap();
        let idx = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
        assert!(idx.contains("fa1"), "thread did not enter the namespace");
    }
    drop(ns);
    assert!(!ns_exists(&name));
}

#[test]
fn namespace_is_removed_when_the_test_panics() {
    if !require_root(
        "namespace_is_removed_when_the_test_panics",
        &["ip", "ethtool"],
    ) {
        return;
    }
    let name = std::sync::Mutex::new(String::new());
    let r = std::panic::catch_unwind(|| {
        let ns = NetNs::new("panic").unwrap();
        *name.lock().unwrap() = ns.name().to_string();
        panic!("test body failed");
    });
    assert!(r.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty());
    assert!(!ns_exists(&name));
}
