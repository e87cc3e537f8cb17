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
    // Expiry as a date; a past one is refused in words.
    let (ok, _, err) = run(&["token", "create", "--tenant", "globex", "--name", "entra", "--expires-at", "2099-01-01"]);
    assert!(!ok && err.contains("ten years"), "{err}");
    // 30 June of next year: between half a year and a year and a half away.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let next_year = format!("{}-06-30", 1970 + secs / 31_556_952 + 1);
    let (ok, _, err) = run(&["token", "create", "--tenant", "globex", "--name", "entra", "--expires-at", &next_year]);
    assert!(ok && err.contains(&next_year.replace("06-30", "07-01")), "{err}");
    // Admin tokens: an operator's, a tenant admin's with an expiry, listed and revoked.
    let (ok, operator, _) = run(&["admin-token", "create", "--name", "ops"]);
    assert!(ok && operator.trim().starts_with("scimd_"));
    let (ok, scoped, err) =
        run(&["admin-token", "create", "--name", "it", "--tenant", "globex", "--expires-in-days", "7"]);
    assert!(ok && err.contains("for tenant 'globex' only") && err.contains("expires at"), "{err}");
    let (_, list, _) = run(&["admin-token", "list"]);
    assert!(list.contains("(operator)") && list.contains("globex") && !list.contains(scoped.trim()), "{list}");
    assert!(run(&["admin-token", "revoke", "it", "--tenant", "globex"]).0);
    let (_, list, _) = run(&["admin-token", "list"]);
    assert!(list.lines().any(|l| l.starts_with("it ") && l.ends_with("revoked")), "{list}");
    let (ok, _, err) = run(&["admin-token", "revoke", "it"]);
    assert!(!ok && err.contains("no operator token named 'it'"), "{err}");
    // Import and export: a CSV in, a summary out; the export reads back; a failed row fails the command.
    let file = dir.join("users.csv");
    std::fs::write(&file, "userName,name.givenName,active\nann@globex.com,Ann,true\nbob@globex.com,Bob,perhaps\n")
        .unwrap();
    let (ok, _, err) = run(&["import", "--tenant", "globex", file.to_str().unwrap()]);
    assert!(!ok && err.contains("1 created, 0 updated, 0 unchanged, 1 failed"), "{err}");
    assert!(err.contains("line 3 (bob@globex.com): 'active' is true or false"), "{err}");
    std::fs::write(&file, "userName,name.givenName,active\nann@globex.com,Ann,true\n").unwrap();
    let (ok, _, err) = run(&["import", "--tenant", "globex", file.to_str().unwrap()]);
    assert!(ok && err.contains("0 created, 0 updated, 1 unchanged, 0 failed"), "idempotent: {err}");
    let (ok, out, _) = run(&["export", "--tenant", "globex", "--format", "csv"]);
    assert!(ok && out.lines().nth(1).is_some_and(|l| l.starts_with("ann@globex.com,,Ann,")), "{out}");
    let (ok, out, _) = run(&["export", "--tenant", "globex"]);
    assert!(ok && serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["userName"] == "ann@globex.com");
    // Extension schemas: added from a file, listed, refused in words, removed only with --force in use.
    let schema = dir.join("custom.json");
    let urn = "urn:okta:globex:1.0:user:custom";
    std::fs::write(
        &schema,
        format!(
            r#"{{"id": "{urn}", "resource_type": "User",
        "attributes": [{{"name": "costCentre", "type": "string"}}]}}"#
        ),
    )
    .unwrap();
    let (ok, _, err) = run(&["schema", "add", "--tenant", "globex", schema.to_str().unwrap()]);
    assert!(ok && err.contains("added to the Users of tenant 'globex' (1 attributes)"), "{err}");
    let (ok, list, _) = run(&["schema", "list", "--tenant", "globex"]);
    assert!(
        ok && list.lines().any(|l| l.starts_with(urn) && l.contains("User") && l.ends_with("costCentre")),
        "{list}"
    );
    let (ok, _, err) = run(&["schema", "add", "--tenant", "globex", schema.to_str().unwrap()]);
    assert!(!ok && err.contains("already has the extension schema"), "{err}");
    std::fs::write(
        &schema,
        r#"{"id": "urn:okta:x:1.0:user", "resource_type": "User", "attributes": [{"name": "a", "type": "text"}]}"#,
    )
    .unwrap();
    let (ok, _, err) = run(&["schema", "add", "--tenant", "globex", schema.to_str().unwrap()]);
    assert!(!ok && err.contains("attribute 'a' needs a 'type'") && err.contains("not 'text'"), "{err}");
    std::fs::write(&file, format!("userName,{urn}:costCentre\nann@globex.com,CC1\n")).unwrap();
    assert!(run(&["import", "--tenant", "globex", file.to_str().unwrap()]).0);
    let (ok, _, err) = run(&["schema", "remove", "--tenant", "globex", urn]);
    assert!(!ok && err.contains("1 user of this tenant holds values") && err.contains("--force"), "{err}");
    let (ok, _, err) = run(&["schema", "remove", "--tenant", "globex", urn, "--force"]);
    assert!(ok && err.contains("1 resource lost values"), "{err}");
    let (_, out, _) = run(&["export", "--tenant", "globex"]);
    assert!(!out.contains(urn), "{out}");
    // Deleting a tenant asks for its name again.
    let (ok, _, err) = run(&["tenant", "delete", "globex", "--confirm", "globe"]);
    assert!(!ok && err.contains("--confirm globex"), "{err}");
    assert!(run(&["tenant", "delete", "globex", "--confirm", "globex"]).0);
    let (_, list, _) = run(&["tenant", "list"]);
    assert!(!list.contains("globex"), "{list}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Not on a terminal (a service manager, a container), the first start's
/// token goes into a file only its owner reads, never into the output.
#[test]
fn the_first_token_goes_to_a_private_file_when_no_terminal_shows_it() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("scimd-first-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SCIMD_DATABASE_URL", format!("sqlite://{}", dir.join("first.db").display()))
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = dir.join("scimd-first-token");
    let mut answer = String::new();
    for _ in 0..100 {
        if file.exists()
            && let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port))
        {
            let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
            let request = format!(
                "GET /scim/v2/default/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            std::io::Write::write_all(&mut conn, request.as_bytes()).unwrap();
            conn.read_to_string(&mut answer).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let out = server.wait_with_output().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "the file's token works: {answer}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "readable by its owner only");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains(&token) && !stderr.contains(&token), "the token is in no output");
    assert!(stderr.contains(&file.display().to_string()), "the path is told: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
