"""sketch2render: sketch + a few words -> a render that keeps your geometry and takes a retrieved style's look."""

__version__ = "0.1.0"
