"""The JSON-RPC client batches, matches replies by id, retries only what is transient,
and never shows credentials. Tested against the real litecoind of the fixtures."""

import pytest

from adapters.errors import NodeAuthError, NodeUnavailableError, RpcError
from adapters.jsonrpc import Call, JsonRpcClient, redact_url
from testing.devnodes import LitecoinRegtest, free_port


def test_batch_results_come_back_in_request_order(litecoind: LitecoinRegtest) -> None:
    with litecoind.rpc() as node:
        height = node.call("getblockcount")
        calls = [Call("getblockhash", [h]) for h in range(height, -1, -1)]
        hashes = node.batch(calls)
        assert hashes[-1] == node.call("getblockhash", 0)
        assert hashes[0] == node.call("getbestblockhash")


def test_an_rpc_error_names_the_node_and_the_call(litecoind: LitecoinRegtest) -> None:
    with litecoind.rpc() as node:
        with pytest.raises(RpcError, match="getblockhash failed") as info:
            node.call("getblockhash", 10**6)
        assert info.value.code == -8  # Bitcoin Core: block height out of range
        outcomes = node.batch_outcomes([Call("getblockhash", [0]), Call("getblockhash", [10**6])])
        assert isinstance(outcomes[0], str) and isinstance(outcomes[1], RpcError)


def test_wrong_credentials_are_a_clear_error_without_the_password(litecoind: LitecoinRegtest) -> None:
    url = f"http://tracer:not-the-password@127.0.0.1:{litecoind.rpc_port}"
    with JsonRpcClient(url, retries=0) as node, pytest.raises(NodeAuthError) as info:
        node.call("getblockcount")
    assert "not-the-password" not in str(info.value)
    assert "credentials refused" in str(info.value)


def test_unreachable_node_is_retried_then_reported() -> None:
    url = f"http://user:secret@127.0.0.1:{free_port()}"
    with JsonRpcClient(url, retries=2, backoff=0.01, timeout=1) as node, \
            pytest.raises(NodeUnavailableError, match="cannot connect") as info:
        node.call("getblockcount")
    assert "secret" not in str(info.value)
    assert "secret" not in repr(node)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("http://rpc:hunter2@10.0.0.5:8332/wallet/x") == "http://***@10.0.0.5:8332/wallet/x"
    assert redact_url("https://eth.example/v2/SECRETKEY?key=abc") == "https://eth.example/***?***"
    assert redact_url("http://TOKEN@127.0.0.1:8332") == "http://***@127.0.0.1:8332"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
