"""The geometry of the class manifolds: R+, R-, D on the unit sphere (sphere), the
curves' names (curves), and the verdict read from them (inversion)."""
