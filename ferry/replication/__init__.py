"""Replication shared by coordinators and replicators: parameters, records, remote clusters.

The follower cluster's coordinators keep the desired state in etcd (remote
clusters, follower indices, auto-follow patterns); its replicators claim one
task per follower shard and pull from the leader cluster's replicators over
``LeaderReplication``. See docs/replication.md.
"""
