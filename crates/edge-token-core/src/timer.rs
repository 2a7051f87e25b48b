//! Bounded waiting: every store call races a [`Timer`], so a store that
//! never answers costs at most `STORE_TIMEOUT_MS`, then `503`.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

/// Sleeps (the Worker uses `setTimeout`). Injected, like the clock.
pub trait Timer {
    /// A future that completes after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
}

/// `fut`'s output, or `None` if `deadline` completes first. `fut` is polled
/// first, so an answer that is ready wins over a deadline that is too.
pub async fn with_timeout<F: Future>(
    fut: F,
    deadline: impl Future<Output = ()>,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut deadline = pin!(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};

    fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
        pin!(fut)
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn ready_answer_beats_a_ready_deadline() {
        let r = poll_once(with_timeout(std::future::ready(7), std::future::ready(())));
        assert_eq!(r, Poll::Ready(Some(7)));
    }

    #[test]
    fn hanging_answer_times_out() {
        let r = poll_once(with_timeout(
            std::future::pending::<u8>(),
            std::future::ready(()),
        ));
        assert_eq!(r, Poll::Ready(None));
        let r = poll_once(with_timeout(
            std::future::pending::<u8>(),
            std::future::pending::<()>(),
        ));
        assert_eq!(r, Poll::Pending);
    }
}
