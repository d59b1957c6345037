//! ballot-workloads: operation generators and scripted scenarios.
