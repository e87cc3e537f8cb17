//! The command line: tenants and tokens managed through the scimd binary.

#[test]
fn cli_manages_tenants_and_tokens() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("scimd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("cli.db").display());
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scimd")).args(args).env("SCIMD_DATABASE_URL", &db).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert!(run(&["tenant", "create", "globex"]).0);
    let (ok, _, err) = run(&["tenant", "create", "globex"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["tenant", "create", "Bad_Name"]);
    assert!(!ok && err.contains("not a valid tenant name"), "{err}");
    let (ok, token, _) = run(&["token", "create", "--tenant", "globex", "--name", "okta", "--expires-in-days", "30"]);
    assert!(ok);
    let token = token.trim();
    assert!(token.starts_with("scimd_") && token.len() == 70, "stdout is the token alone: {token:?}");
    let (ok, list, _) = run(&["token", "list", "--tenant", "globex"]);
    assert!(ok && list.contains("okta") && list.contains("active") && !list.contains(token), "{list}");
    assert!(run(&["tenant", "disable", "globex"]).0);
    let (_, list, _) = run(&["tenant", "list"]);
    assert!(list.contains("globex") && list.contains("disabled"), "{list}");
    assert!(run(&["tenant", "enable", "globex"]).0);
    assert!(run(&["token", "revoke", "--tenant", "globex", "--name", "okta"]).0);
    let (_, list, _) = run(&["token", "list", "--tenant", "globex"]);
    assert!(list.contains("revoked"), "{list}");
    let (ok, _, err) = run(&["token", "revoke", "--tenant", "globex", "--name", "nope"]);
    assert!(!ok && err.contains("no token named"), "{err}");
    let (ok, _, err) = run(&["token", "create", "--tenant", "nope", "--name", "x"]);
    assert!(!ok && err.contains("no tenant"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
