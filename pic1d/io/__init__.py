"""pic1d input/output: atomic files, run directory, openPMD iterations, appendable series.

See docs/outputs.md for the files of a run directory and how to read them.
"""

from pic1d.io.atomic import (
    PIC1D_OUTPUTS,
    RunDirectoryExists,
    atomic_h5,
    atomic_write,
    create_run_directory,
    fsync_directory,
    write_json_atomic,
)
from pic1d.io.openpmd import (
    CODE_UNITS,
    MeshRecord,
    ParticleSpecies,
    iteration_files,
    remove_iterations_after,
    write_mesh_iteration,
    write_particle_iteration,
    write_particles_iteration,
)
from pic1d.io.series import AppendableSeries, read_series

__all__ = [
    "CODE_UNITS",
    "PIC1D_OUTPUTS",
    "AppendableSeries",
    "MeshRecord",
    "ParticleSpecies",
    "RunDirectoryExists",
    "atomic_h5",
    "atomic_write",
    "create_run_directory",
    "fsync_directory",
    "iteration_files",
    "read_series",
    "remove_iterations_after",
    "write_json_atomic",
    "write_mesh_iteration",
    "write_particle_iteration",
    "write_particles_iteration",
]
