"""clank-lan: a LAN appliance that emulates Sony's SCE-RT / Medius servers for PS2 games."""

__version__ = "0.1.0"
