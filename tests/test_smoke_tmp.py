import analogsim as A
from analogsim._data import load_digits
from analogsim._simulate import simulate
from analogsim._train_digital import train_digital


def test_smoke():
    d = load_digits()
    net = A.mlp()
    p = train_digital(net, d, key=A.root_key(0), epochs=2)
    ds = simulate(A.HardwareSpec(), net, p, d, chips=2, times=[1.0, 100.0])
    assert ds.accuracy.shape == (2, 2)
    import device_models as dm
    from analogsim._characterize import characterize_device

    for n in dm.PRESETS:
        characterize_device(dm.get_device(n), devices=100)
    net = A.cnn()
    p = train_digital(net, d, key=A.root_key(0), epochs=1)
    simulate(A.HardwareSpec(), net, p, d, chips=2, times=[1.0, 100.0], method="verify")
