"""The sketch side: decoding untrusted images, control images, masks, and preparing a sketch
for a render (no torch)."""
