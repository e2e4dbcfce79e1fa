"""``astrofmx simulate``: a simulated radio continuum field with its truth catalog."""

from ._common import UsageError, add_command, add_output_flags, check_outputs, plural, positive_int, quantity

__all__ = []

_OPTIONS = ("rms", "beam_fwhm", "pixel_scale", "n_sources", "artefacts", "primary_beam_fwhm", "pb_cutoff")


def add_parser(sub, parents):
    p = add_command(sub, "simulate", "simulate a radio continuum field with a truth catalog",
                    "  astrofmx simulate sim.fits\n"
                    "  astrofmx simulate sim.fits --shape 1024 1024 --seed 3 --rms '10 uJy/beam' --beam-fwhm 6arcsec "
                    "--artefacts rings --truth truth.ecsv\n", parents=parents)
    p.add_argument("output", help="FITS file to write (image, plus the truth catalog in a TRUTH table HDU)")
    p.add_argument("--shape", type=positive_int, nargs=2, default=[512, 512], metavar=("NY", "NX"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rms", type=quantity, help="noise rms, e.g. '20 uJy/beam' (a number: Jy/beam)")
    p.add_argument("--beam-fwhm", type=quantity, help="beam FWHM, e.g. 6arcsec (a number: arcsec)")
    p.add_argument("--pixel-scale", type=quantity, help="pixel size, e.g. 1.5arcsec (a number: arcsec)")
    p.add_argument("--n-sources", type=int, help="exact number of sources")
    p.add_argument("--artefacts", choices=("rings", "stripes"), help="imaging artefacts around bright sources")
    p.add_argument("--primary-beam-fwhm", type=quantity,
                   help="primary-beam-corrected noise: FWHM of the primary beam, e.g. 1deg (a number: arcsec)")
    p.add_argument("--pb-cutoff", type=float, help="blank (NaN) where the primary beam response is below this")
    p.add_argument("--truth", help="also write the truth catalog (.ecsv, .fits, .vot)")
    add_output_flags(p)
    p.set_defaults(func=run)


def run(args):
    if not str(args.output).lower().endswith((".fits", ".fit", ".fts", ".fits.gz")):
        raise UsageError(f"the output must be a FITS file (.fits), got {args.output!r}")
    if args.n_sources is not None and args.n_sources < 0:
        raise UsageError(f"--n-sources must be >= 0, got {args.n_sources}")
    if args.pb_cutoff is not None and args.primary_beam_fwhm is None:
        raise UsageError("--pb-cutoff needs --primary-beam-fwhm (the FWHM of the primary beam, e.g. 1deg)")
    check_outputs([args.output, args.truth], args.overwrite)
    import astropy.units as u

    from ..datasets import simulate_radio_field

    kwargs = {name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None}
    field = simulate_radio_field(tuple(args.shape), seed=args.seed, **kwargs)
    field.write(args.output, overwrite=args.overwrite)
    ny, nx = field.data.shape
    print(f"simulated a {nx} x {ny} radio field with {plural(len(field.truth), 'source')} "
          f"(rms {field.rms.to(u.uJy / u.beam):.3g}, beam {field.beam[0].to(u.arcsec):.3g}) -> {args.output}")
    if args.truth is not None:
        from ..io import write_catalog

        try:
            write_catalog(field.truth, args.truth, overwrite=args.overwrite)
        except (TypeError, ValueError, KeyError):
            field.truth.write(args.truth, overwrite=args.overwrite)
        print(f"wrote {args.truth}")
