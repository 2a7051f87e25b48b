//! The Rust/wasm floor for `make bench`: what any workers-rs Worker costs
//! per request on this runtime before doing any work. `GET /log` also
//! writes one console line, as edge-token's audit log does.
#![cfg(target_arch = "wasm32")]

use worker::{console_log, event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    if req.path() == "/log" {
        console_log!("{}", r#"{"event":"floor","status":200}"#);
    }
    Response::ok("ok")
}
