"""Identity resolution: one customer id for a person across every channel.

`IdentityResolver` (resolver.py) is the API connectors use; the named operations
(`ImportContacts`, `ClaimIdentity`, `VerifyClaim`, `LinkIdentities`, `MergeCustomers`,
`UnlinkCustomer`, `RebuildIndex`) live in one module each. See docs/identity.md.
"""
