//! China Construction Bank aggregated payment (建行聚合支付, 龙支付), the channel for
//! every non-insurance online payment (INS-1). protocols.md §4. This module holds the
//! pure pieces shared by the connector and the simulator: the order MAC and the
//! notification's verify string and signature.
pub mod client;
pub mod signing;
