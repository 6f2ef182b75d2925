"""Sans-IO protocol core: framing, crypto and message codecs. No sockets, no clocks."""
