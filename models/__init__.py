"""Pure nn.Modules: transforms, hyper networks, and the weight zoo."""
