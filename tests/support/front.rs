//! The one address workers know, in front of the service's replicas: each connection goes to
//! the first replica that accepts it, in the order given (an active/passive load balancer), so
//! that after a failover the heartbeats reach the new leader only through a follower.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP front on loopback; stops when dropped.
pub struct Front {
    pub addr: String,
    task: JoinHandle<()>,
}

impl Front {
    /// Listens on a free loopback port and passes each connection to the first of `backends`
    /// (`host:port`) that accepts it.
    pub async fn start(backends: Vec<String>) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
        let addr = listener.local_addr().unwrap().to_string();
        let backends = Arc::new(backends);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for b in backends.iter() {
                        if let Ok(mut server) = TcpStream::connect(b).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Front { addr, task }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}
