// Package cluster makes replicas of the agent one monitoring system.
//
// Membership comes from hashicorp/memberlist (SWIM gossip); which replica
// checks a monitor comes from rendezvous hashing (Ring): every live member
// scores every monitor name, and the highest score owns it. A member
// joining or leaving moves only the monitors it wins or held, about 1/N
// of them, and every replica computes the same answer from the same
// member list without talking to the others.
package cluster
