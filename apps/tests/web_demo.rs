//! The README's first command: `web` with no arguments serves the bundled site on a TAP
//! device `web0` it creates, at 10.77.0.2 with the kernel's side at 10.77.0.1/24, and
//! removes the device when it stops. Run in a namespace of its own (root).

use apps::web::site::Site;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn no_arguments_serve_the_bundled_site_over_a_tap_and_ctrl_c_removes_it() {
    let test = "no_arguments_serve_the_bundled_site_over_a_tap_and_ctrl_c_removes_it";
    if !require_root(test, &["ip", "curl"]) {
        return;
    }
    let ns = NetNs::new("webdemo").unwrap();
    let dir = std::env::temp_dir().join(format!("web-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("out"), dir.join("err"));
    let mut web = Proc(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(env!("CARGO_BIN_EXE_web"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log().contains("try: curl http://10.77.0.2/") {
        assert!(
            web.0.try_wait().unwrap().is_none(),
            "web exited:\n{}",
            log()
        );
        assert!(
            Instant::now() < deadline,
            "web never said it serves:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let addr = ns
        .exec(&["ip", "-4", "addr", "show", "dev", "web0"])
        .unwrap();
    assert!(addr.contains("inet 10.77.0.1/24 "), "{addr}");

    let site = Site::bundled();
    let index = site
        .files()
        .iter()
        .find(|f| f.path() == "/index.html")
        .expect("the bundled site has an index");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let r = Command::new("ip")
            .args(["netns", "exec", ns.name(), "curl", "-sS", "--max-time", "2"])
            .arg("http://10.77.0.2/")
            .output()
            .unwrap();
        if r.status.success() {
            break r.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "no answer: {}\n{}",
            String::from_utf8_lossy(&r.stderr),
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body == index.body(), "/ is not the bundled index.html");

    // Ctrl-C: the server stops by itself and the device goes with it.
    let pid = web.0.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = web.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "web ignored SIGINT:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "web exited with {status}:\n{}", log());
    assert!(
        ns.exec(&["ip", "link", "show", "web0"]).is_err(),
        "web0 is still there after the server stopped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
