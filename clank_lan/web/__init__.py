"""The live web board and its JSON API: a read-only view of the appliance for projectors, overlays
and bots (``source`` what it reads, ``render`` the HTML, ``app`` the routes, ``server`` the HTTP
server)."""
