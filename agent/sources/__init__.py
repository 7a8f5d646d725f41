"""Where documents and device data come in (the watched folder now; HTTP, MQTT and CoAP
arrive with their issues)."""
