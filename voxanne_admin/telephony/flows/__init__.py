"""The telephony flow layer: what calls Twilio or Vapi and commits short transactions around those calls.

- `provisioning`: search numbers, buy + import + record a number (rolled back on failure), the provider clients.
- `reconciliation`: compare the providers' numbers with our records; adopt or release orphans.
- `verification`: place the forwarding test call; sandbox-only "the clinic dials the code".
"""
