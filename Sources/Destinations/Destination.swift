// Local destination lands with the Drive issue; the protocol lives here.
