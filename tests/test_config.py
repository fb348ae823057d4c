import pytest

from bioglom import ConfigError, GlomConfig


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(levels=1), "levels"),
        (dict(image_size=10, patch_size=4), "patch_size"),
        (dict(neighbourhood="ring"), "neighbourhood"),
        (dict(radius=(1, 2, 9)), "radius"),
        (dict(radius=(1, 2)), "radius"),
        (dict(radius=-1), "radius"),
        (dict(neighbourhood="gaussian", gaussian_k=16), "gaussian_k"),
        (dict(similarity="euclid"), "similarity"),
        (dict(columns="some"), "columns"),
        (dict(dim=0), "dim"),
        (dict(weights_start=(1.0, 1.0)), "weights_start"),
        (dict(beta_end=float("nan")), "beta_end"),
    ],
)
def test_bad_config_names_field_and_value(changes, field):
    base = dict(levels=3, dim=8, image_size=8, patch_size=2, channels=1)
    with pytest.raises(ConfigError) as err:
        GlomConfig(**{**base, **changes})
    msg = str(err.value)
    assert msg.startswith(f"{field}=")
    assert "allowed" in msg or "must" in msg


def test_derived_sizes_and_round_trip():
    cfg = GlomConfig(levels=4, dim=16, image_size=(8, 12), patch_size=4, channels=1)
    assert cfg.grid == (2, 3) and cfg.n_columns == 6
    assert cfg.radii == (1, 2, 2, 2)  # grows with level, capped by the grid
    assert GlomConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config field 'colour'"):
        GlomConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_location_input_defaults_follow_columns():
    assert GlomConfig(columns="shared").uses_location
    assert not GlomConfig(columns="unshared").uses_location
    assert GlomConfig(columns="unshared", td_location=True).uses_location
