default_receiver = "console"
receivers = {}
