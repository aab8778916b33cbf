//! SDK clients built on their first call. Building a client is cheap in time but not free in a
//! cold start: each service's construction code is its own pages of the binary, and a page
//! touched once stays resident. The responder keeps clients that most events never call
//! (Identity Center, the member role's STS) unbuilt until an event needs them.

use std::sync::OnceLock;

use aws_config::SdkConfig;

pub struct LazyClient<C> {
    config: SdkConfig,
    build: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    /// `build(config)` on the first [`LazyClient::get`], never before.
    pub fn new(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        LazyClient {
            config: config.clone(),
            build,
            client: OnceLock::new(),
        }
    }

    /// A client already built (tests hand in a mocked one).
    #[cfg(test)]
    pub fn ready(client: C) -> Self {
        let built = OnceLock::new();
        let _ = built.set(client);
        LazyClient {
            config: SdkConfig::builder().build(),
            build: |_| unreachable_build(),
            client: built,
        }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.config))
    }

    /// Whether the client has been built (tests of what a cold start builds).
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

/// `ready` fills the cell before any `get`, so its builder is never called.
#[cfg(test)]
fn unreachable_build<C>() -> C {
    unreachable!("LazyClient::ready holds a built client")
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.is_built())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    fn counted(config: &SdkConfig) -> aws_sdk_sts::Client {
        BUILT.fetch_add(1, Ordering::SeqCst);
        aws_sdk_sts::Client::new(config)
    }

    #[test]
    fn a_client_is_built_on_its_first_use_and_only_once() {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let lazy = LazyClient::new(&config, counted);
        assert!(!lazy.is_built());
        assert_eq!(BUILT.load(Ordering::SeqCst), 0);
        let first = lazy.get().config().region().cloned();
        let _ = lazy.get();
        assert!(lazy.is_built());
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert_eq!(first.as_ref().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
