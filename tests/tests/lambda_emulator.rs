//! The Lambda Runtime API emulator (tests/src/lambda.rs) keeps Lambda's rules, so the stack test
//! and the cold-start benchmark cannot pass on a runtime Lambda would refuse. Runs the bare
//! `lambda_runtime` hello (tests/lambda-hello) and two processes that never poll.

use connector_tests::binaries::{self, HELLO, Profile};
use connector_tests::lambda::{Environment, FunctionConfig, InvokeError, MAX_PAYLOAD};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn config(timeout: Duration) -> FunctionConfig {
    FunctionConfig {
        name: "emulated".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:emulated".into(),
        memory_size: 128,
        timeout,
        log_group: "/aws/lambda/emulated".into(),
        log_format: "JSON".into(),
        log_level: Some("INFO".into()),
        region: "us-east-1".into(),
    }
}

async fn hello() -> Environment {
    let bins = tokio::task::spawn_blocking(|| binaries::build(Profile::Dev, &[HELLO])).await.unwrap();
    let config = config(Duration::from_secs(10));
    let env = config.reserved_environment("");
    Environment::start(&bins[HELLO], config, env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_gets_its_events_with_the_lambda_headers_and_answers_once() {
    let env = hello().await;
    let init = env.init_duration(Duration::from_secs(20)).await.expect("the hello polls");
    assert!(init > Duration::ZERO);
    for n in 0..3 {
        let out = env.invoke(&json!({"n": n, "text": "échoes"})).await;
        assert_eq!(out.json(), json!({"n": n, "text": "échoes"}));
    }
    // lambda_runtime reads the request id, deadline and ARN headers, or it fails the event.
    for _ in 0..100 {
        if env.next_polls() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.next_polls(), 4, "one poll per event, and the one waiting now");

    // An answer for no invocation, or a second one, is refused as Lambda refuses it.
    let http = reqwest::Client::new();
    let base = format!("http://{}/2018-06-01/runtime/invocation", env.runtime_api());
    let resp = http.post(format!("{base}/no-such-id/response")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("InvalidRequestID"));
    let done = env.invoke(&json!({})).await.request_id;
    let resp = http.post(format!("{base}/{done}/response")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("InvalidStateTransition"));

    // Over Lambda's payload limit: refused before the function sees it.
    let big = vec![b'x'; MAX_PAYLOAD + 1];
    assert!(matches!(env.invoke_bytes(big).await.result, Err(InvokeError::Rejected(_))));

    // An init error reported by a runtime fails what waits, with its type and message.
    let init_error = format!("http://{}/2018-06-01/runtime/init/error", env.runtime_api());
    let resp = http
        .post(init_error)
        .header("lambda-runtime-function-error-type", "Runtime.Config")
        .body(r#"{"errorMessage":"MAPPING_CONFIG: bad","errorType":"Runtime.Config"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(env.init_error().unwrap().error_message, "MAPPING_CONFIG: bad");
    assert!(env.peak_rss_kb() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_never_answers_times_out_and_one_that_exits_is_an_exit_error() {
    let exits =
        Environment::start(Path::new("/bin/false"), config(Duration::from_secs(5)), Default::default()).await;
    let err = exits.init_duration(Duration::from_secs(5)).await.expect_err("never polls");
    assert!(err.to_string().contains("exited"), "{err}");
    match exits.invoke(&json!({})).await.result {
        Err(InvokeError::Exited { status, .. }) => assert!(status.contains("exit status: 1"), "{status}"),
        other => panic!("expected Runtime.ExitError, got {other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bootstrap");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let idle = Environment::start(&script, config(Duration::from_millis(500)), Default::default()).await;
    match idle.invoke(&json!({})).await.result {
        Err(InvokeError::Timeout(t)) => assert_eq!(t, Duration::from_millis(500)),
        other => panic!("expected the function's timeout, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(idle.exited().is_some(), "a timed-out environment is stopped");
}
