"""Paper reproductions and demonstrations (each module has ``run(out_dir, full=False, seed=0)``)."""
