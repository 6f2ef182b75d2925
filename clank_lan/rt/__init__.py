"""One SCE-RT endpoint for every end of a connection: lobby and DME, server and client.

``outbox`` is the bounded output buffer the trio shells drain, ``link`` the framing/cipher/log
path, ``keys`` the one rule for which session key goes in which cipher context, and ``endpoint``
the handshake as a transition table with the connection object that runs it.
"""
