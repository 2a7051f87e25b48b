//! The command line, declared once (clap derive). No behaviour here: what
//! the values mean and which combinations are refused is decided by
//! [`crate::clients`], [`crate::keys`] and [`crate::wrangler`].

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use edge_token_core::client_key::{ClientKeyAlg, MAX_CLIENT_KEYS, MAX_RSA_BITS, MIN_RSA_BITS};
use edge_token_core::token::Algorithm;

/// What `edge-token --help` prints after the command list.
const ABOUT: &str = "\
Run `edge-token client --help` and `edge-token key --help` for the commands,
`edge-token client create --help` (and so on) for their options.";

/// What `edge-token client --help` prints after the command list.
const ABOUT_WRANGLER: &str = "\
Client secrets are printed once, on creation and rotation, and never stored.
A private_key_jwt client (client create --auth private_key_jwt) has no secret:
it holds public keys (client add-key, client remove-key).
wrangler is taken from $EDGE_TOKEN_WRANGLER, else from node_modules/.bin/wrangler next
to the wrangler.toml in use (the --config file's directory, else the current
directory), never from a parent directory. Client records (they hold secret
digests) reach wrangler in a private temporary file, never on its command line.";

/// What `client create --help` and `client update --help` print after the options.
const ABOUT_RECORD: &str = "\
Limits (the Worker's, checked before anything is written): at most 64 scopes
per list, each at most 128 bytes, 1024 bytes joined; at most 16 audiences per
list, each an absolute URI of at most 512 bytes, 1536 bytes together. All
claims together take at most 2048 bytes.
client update changes only what it is given and never touches secrets:
--scope, --audience and --introspect-audience replace their lists (\"\" for
none), --ttl default returns to TOKEN_TTL, --claim adds or replaces one claim,
--remove-claim NAME and --clear-claims drop them. Defaults must stay within
the allowed lists.
DURATION is seconds or a number with s, m, h or d (90, 15m, 24h, 7d).";

/// What `client create`, `client add-key` and `client remove-key` print
/// about client keys (private_key_jwt, RFC 7523).
fn about_client_keys() -> String {
    format!(
        "\
private_key_jwt: the client signs a JWT assertion with its private key; the
issuer holds only public keys. --jwk FILE is a public JWK or a JWK Set (every
key in it is registered). A file with private members (d, p, q, dp, dq, qi,
oth) or a symmetric (oct) key is refused and nothing is written: give the
public key only. EC P-256 keys are ES256, OKP Ed25519 keys EdDSA; an RSA key
needs {MIN_RSA_BITS} to {MAX_RSA_BITS} bits and an alg, its own or --alg RS256|PS256.
A kid is the JWK's own, else its RFC 7638 thumbprint.
At most {MAX_CLIENT_KEYS} keys per client. Rotation with overlap: client add-key ID --jwk NEW,
wait for the change to take effect (printed on stderr), switch the client to
the new key, then client remove-key ID OLD_KID. The last key cannot be
removed (disable or delete the client instead). A client has a secret or
keys, never both: client rotate-secret refuses a key client, client add-key
a secret client."
    )
}

/// What `client create --help` prints after the options.
fn about_create() -> String {
    format!("{ABOUT_RECORD}\n\n{}", about_client_keys())
}

/// What the key-file commands print after their options.
const ABOUT_KEY_FILE: &str = "\
FILE holds the SIGNING_KEYS JSON array the Worker reads (first entry signs,
every entry verifies; HS256, ES256, EdDSA and Ed25519 keys may be mixed). It
holds secrets: it is written with mode 0600 and no command prints private key
material (only kids, algorithms, roles and public keys).
Rotation: key add (new key last, verify-only), deploy FILE; ES256/EdDSA keys
are published in the issuer's JWKS at once: wait JWKS_MAX_AGE (default 300 s)
plus propagation; HS256: give every API the new FILE. Then key promote KID
(it signs), deploy; after MAX_TOKEN_TTL plus leeway, key remove OLD, deploy.
--apply also stores FILE in the deployed Worker's SIGNING_KEYS secret (wrangler
secret put, FILE on stdin; --env and --config are passed on).";

/// `edge-token`: manage edge-token clients and signing keys.
#[derive(Debug, Parser)]
#[command(
    name = "edge-token",
    version,
    about = "edge-token: manage edge-token clients and signing keys",
    after_help = ABOUT
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register and manage clients in the CLIENTS KV namespace (through wrangler)
    #[command(subcommand, after_help = ABOUT_WRANGLER)]
    Client(ClientCommand),
    /// Generate signing keys and maintain a local SIGNING_KEYS file
    #[command(subcommand, after_help = ABOUT_KEY_FILE)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its settings and its secret (shown once),
    /// or, with --auth private_key_jwt, its keys
    #[command(mut_arg("name", |a| a.required(true)), after_help = about_create())]
    Create(CreateArgs),
    /// Change a client's settings (never its secrets); prints the record
    #[command(after_help = ABOUT_RECORD)]
    Update(UpdateArgs),
    /// List the clients: client_id, name, disabled, token_endpoint_auth_method
    List(ListArgs),
    /// Print a client's record without secret digests
    Show(IdArgs),
    /// Refuse the client's token requests (the record is kept)
    Disable(IdArgs),
    /// Undo `client disable`
    Enable(IdArgs),
    /// Remove the client's record (there is no undo; needs --yes or a confirmation)
    Delete(DeleteArgs),
    /// Issue a new secret; the previous one stays valid for --grace
    RotateSecret(RotateArgs),
    /// Register the public keys of FILE with a private_key_jwt client; prints the record
    #[command(after_help = about_client_keys())]
    AddKey(AddKeyArgs),
    /// Remove the key KID from a private_key_jwt client; prints the record
    #[command(after_help = about_client_keys())]
    RemoveKey(RemoveKeyArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create FILE holding one new signing key; prints its kid, alg and public key
    #[command(after_help = ABOUT_KEY_FILE)]
    Generate(GenerateArgs),
    /// Add a new key as the last (verify-only) entry of FILE; creates FILE if missing
    #[command(
        mut_arg("local", |a| a.hide(true)),
        mut_arg("remote", |a| a.hide(true)),
        mut_arg("persist_to", |a| a.hide(true)),
        mut_arg("new_state", |a| a.hide(true)),
        after_help = ABOUT_KEY_FILE
    )]
    Add(KeyAddArgs),
    /// Move KID first in FILE, so it signs (it needs its private part)
    #[command(
        mut_arg("local", |a| a.hide(true)),
        mut_arg("remote", |a| a.hide(true)),
        mut_arg("persist_to", |a| a.hide(true)),
        mut_arg("new_state", |a| a.hide(true)),
        after_help = ABOUT_KEY_FILE
    )]
    Promote(KeyKidArgs),
    /// Drop the verify-only key KID from FILE
    #[command(
        mut_arg("local", |a| a.hide(true)),
        mut_arg("remote", |a| a.hide(true)),
        mut_arg("persist_to", |a| a.hide(true)),
        mut_arg("new_state", |a| a.hide(true)),
        after_help = ABOUT_KEY_FILE
    )]
    Remove(KeyKidArgs),
    /// Print the kids of FILE with their algorithm and role (never key material)
    #[command(after_help = ABOUT_KEY_FILE)]
    List(KeysFile),
    /// Print the JWK Set of FILE's ES256/EdDSA keys, as the issuer serves it
    #[command(after_help = ABOUT_KEY_FILE)]
    Public(KeysFile),
}

/// Where the clients are (client commands) and which wrangler
/// configuration is used (also `key ... --apply`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Store options")]
pub struct StoreArgs {
    /// The local store that `make dev` serves (the default)
    #[arg(long, conflicts_with = "remote")]
    pub local: bool,
    /// The deployed KV namespace
    #[arg(long)]
    pub remote: bool,
    /// A wrangler environment
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The wrangler configuration file (default: the issuer's, found from the project root: the nearest wrangler.json/.jsonc/.toml binding CLIENTS)
    #[arg(long, value_name = "PATH")]
    pub config: Option<String>,
    /// The local state directory (default: wrangler's, .wrangler/state); local store only.
    /// One that holds no state yet is refused (a typo would start an empty
    /// store) unless confirmed on a terminal or --new-state is given
    #[arg(long, value_name = "DIR", conflicts_with = "remote")]
    pub persist_to: Option<String>,
    /// The --persist-to directory may hold no state yet: create it
    #[arg(long, requires = "persist_to")]
    pub new_state: bool,
}

/// The settings of a client record that `client create` sets and
/// `client update` changes.
#[derive(Debug, Clone, Default, Args)]
pub struct RecordArgs {
    /// The client's name, 1-200 bytes (required by create)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Scopes the client may request, space-separated (repeatable)
    #[arg(long = "scope", value_name = "\"a b\"")]
    pub scope: Vec<String>,
    /// Scopes granted when a request names none; a subset of --scope
    /// (create: default all of --scope; "" for none)
    #[arg(long, value_name = "\"a\"")]
    pub default_scope: Option<String>,
    /// An audience the client may request, an absolute URI (repeatable);
    /// create: with exactly one and no --default-audience, it is also the default
    #[arg(long = "audience", value_name = "URI")]
    pub audience: Vec<String>,
    /// An audience used when a request names none; among --audience (repeatable)
    #[arg(long = "default-audience", value_name = "URI")]
    pub default_audience: Vec<String>,
    /// The client's token lifetime, capped at MAX_TOKEN_TTL (update: `default`
    /// returns to TOKEN_TTL)
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// The client may call the introspection endpoint
    #[arg(long)]
    pub introspect: bool,
    /// With --introspect: the client may introspect only tokens with one of
    /// these audiences (repeatable); without it, every token of this issuer
    #[arg(long = "introspect-audience", value_name = "URI")]
    pub introspect_audience: Vec<String>,
    /// A static extra claim in every token of the client (repeatable). VALUE
    /// is JSON if it is a number, true/false, array, object or "quoted
    /// string", else a plain string. Registered claims (iss, sub, aud, exp,
    /// scope, client_id, ...) cannot be overridden
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub claim: Vec<String>,
}

/// How a client authenticates (`--auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// A generated secret (HTTP Basic or client_secret in the form)
    #[default]
    #[value(name = "client_secret")]
    ClientSecret,
    /// A JWT assertion signed with the client's private key (RFC 7523)
    #[value(name = "private_key_jwt")]
    PrivateKeyJwt,
}

/// The `--alg` values for client keys: the RSA ones (an EC or OKP key's
/// algorithm follows from its curve).
fn rsa_alg_parser() -> impl TypedValueParser<Value = ClientKeyAlg> {
    PossibleValuesParser::new([ClientKeyAlg::RS256.name(), ClientKeyAlg::PS256.name()]).try_map(
        |name: String| {
            ClientKeyAlg::from_name(&name).ok_or_else(|| format!("unknown algorithm {name:?}"))
        },
    )
}

/// `--jwk FILE [--alg ALG]`: the public keys to register.
#[derive(Debug, Clone, Default, Args)]
pub struct JwkArgs {
    /// A file holding the client's public JWK or a JWK Set (never a private key)
    #[arg(long, value_name = "FILE")]
    pub jwk: Option<String>,
    /// The algorithm of an RSA key whose JWK has no "alg"
    #[arg(long, value_name = "ALG", requires = "jwk", value_parser = rsa_alg_parser())]
    pub alg: Option<ClientKeyAlg>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub record: RecordArgs,
    /// How the client authenticates: a generated secret, or a JWT signed
    /// with its private key (needs --jwk)
    #[arg(long, value_name = "METHOD", value_enum, default_value_t = AuthMethod::ClientSecret)]
    pub auth: AuthMethod,
    #[command(flatten)]
    pub keys: JwkArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AddKeyArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    /// A file holding the public JWK or JWK Set to add (never a private key)
    #[arg(long, value_name = "FILE")]
    pub jwk: String,
    /// The algorithm of an RSA key whose JWK has no "alg"
    #[arg(long, value_name = "ALG", value_parser = rsa_alg_parser())]
    pub alg: Option<ClientKeyAlg>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveKeyArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    /// The key id (as `client show` lists it)
    #[arg(value_name = "KID")]
    pub kid: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub record: RecordArgs,
    /// Take the introspection permission away
    #[arg(long, conflicts_with = "introspect")]
    pub no_introspect: bool,
    /// Drop one extra claim; the client must have it (repeatable)
    #[arg(long = "remove-claim", value_name = "NAME")]
    pub remove_claim: Vec<String>,
    /// Drop every extra claim (with --claim: replace them all)
    #[arg(long)]
    pub clear_claims: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct IdArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Delete without asking (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// The client id
    #[arg(value_name = "ID")]
    pub id: String,
    /// How long the previous secret stays valid (seconds or a number with
    /// s, m, h or d)
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub grace: String,
    /// With two active secrets already: cut the older off now
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The `--alg` values: the JOSE names, case-sensitive.
fn alg_parser() -> impl TypedValueParser<Value = Algorithm> {
    PossibleValuesParser::new(Algorithm::ALL.map(Algorithm::name)).try_map(|name: String| {
        Algorithm::from_name(&name).ok_or_else(|| format!("unknown algorithm {name:?}"))
    })
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// The file to create (mode 0600); refused if it exists and is not empty
    #[arg(long = "keys", value_name = "FILE", required = true)]
    pub keys: String,
    /// The key's algorithm
    #[arg(long, value_name = "ALG", default_value = "HS256", value_parser = alg_parser())]
    pub alg: Algorithm,
    /// The key id (default: k<days since 1970>-<random>)
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
}

/// `--keys FILE`.
#[derive(Debug, Clone, Args)]
pub struct KeysFile {
    /// The SIGNING_KEYS JSON array file (mode 0600)
    #[arg(long = "keys", value_name = "FILE", required = true)]
    pub keys: String,
}

/// `--apply` and where it stores the secret.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Also store FILE in the deployed Worker's SIGNING_KEYS secret
    /// (wrangler secret put; --env and --config are passed on)
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KeyAddArgs {
    #[command(flatten)]
    pub file: KeysFile,
    /// The new key's algorithm (default: the signer's; HS256 for a new FILE)
    #[arg(long, value_name = "ALG", value_parser = alg_parser())]
    pub alg: Option<Algorithm>,
    /// The new key's id (default: k<days since 1970>-<random>)
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KeyKidArgs {
    /// The key id
    #[arg(value_name = "KID")]
    pub kid: String,
    #[command(flatten)]
    pub file: KeysFile,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(list: &[&str]) -> Result<Cli, String> {
        crate::testutil::parse(list)
    }

    fn create(list: &[&str]) -> Result<CreateArgs, String> {
        let mut all = vec!["client", "create"];
        all.extend_from_slice(list);
        match parse(&all)?.command {
            Command::Client(ClientCommand::Create(args)) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn args_reject_unknown_and_missing_values() {
        assert!(parse(&["client", "--bogus"]).is_err());
        assert!(parse(&["client", "create", "--name"]).is_err());
        let a = create(&[
            "--name=x",
            "--scope=a b",
            "--audience",
            "x",
            "--audience=y",
            "--claim=tier=\"gold\"",
        ])
        .unwrap();
        assert_eq!(a.record.audience, vec!["x", "y"]);
        assert_eq!(a.record.scope, vec!["a b"]);
        assert_eq!(a.record.claim, vec!["tier=\"gold\""]);
        assert_eq!(a.record.name.as_deref(), Some("x"));
        let err = create(&["--name", "x", "--introspect=true"]).unwrap_err();
        assert!(err.contains("--introspect"), "{err}");
        // Options given at most once.
        let err = create(&[
            "--name",
            "x",
            "--default-scope",
            "a",
            "--default-scope",
            "b",
        ])
        .unwrap_err();
        assert!(err.contains("--default-scope"), "{err}");
        let err = create(&["--name", "x", "--name", "y"]).unwrap_err();
        assert!(err.contains("--name"), "{err}");
        // --name is required by create only.
        let err = create(&["--scope", "read"]).unwrap_err();
        assert!(err.contains("--name"), "{err}");
        assert!(parse(&["client", "update", "etc_x", "--scope", "read"]).is_ok());
    }

    #[test]
    fn no_command_is_a_usage_error() {
        use clap::error::ErrorKind;
        for list in [&[][..], &["client"], &["key"]] {
            let err =
                Cli::try_parse_from(std::iter::once("edge-token").chain(list.iter().copied()))
                    .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
                "{list:?}"
            );
            assert!(err.use_stderr(), "{list:?}");
        }
        let err = Cli::try_parse_from(["edge-token", "client", "show"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn options_apply_per_command() {
        assert!(create(&["--name", "x", "--no-introspect"]).is_err());
        assert!(parse(&["client", "update", "x", "--no-introspect"]).is_ok());
        assert!(parse(&["client", "update", "x", "--remove-claim", "t", "--remote"]).is_ok());
        assert!(create(&["--name", "x", "--remove-claim", "t", "--remote"]).is_err());
        assert!(parse(&["key", "list", "--keys", "f", "--kid", "k"]).is_err());
        assert!(parse(&["client", "show", "x", "--scope", "a"]).is_err());
        assert!(parse(&["client", "list", "--remote"]).is_ok());
        // The store options come anywhere after the command.
        assert!(parse(&["client", "show", "--remote", "x"]).is_ok());
        assert!(parse(&["client", "show", "x", "--local", "--config", "w.toml"]).is_ok());
        assert!(parse(&["client", "list", "--local", "--remote"]).is_err());
        assert!(parse(&["client", "list", "--remote", "--persist-to", "d"]).is_err());
        assert!(parse(&["client", "update", "x", "--introspect", "--no-introspect"]).is_err());
        // Client keys.
        assert!(parse(&["client", "add-key", "x", "--jwk", "f", "--alg", "PS256"]).is_ok());
        assert!(parse(&["client", "add-key", "x"]).is_err());
        assert!(parse(&["client", "add-key", "x", "--jwk", "f", "--alg", "ES256"]).is_err());
        assert!(parse(&["client", "add-key", "x", "--jwk", "f", "--scope", "a"]).is_err());
        assert!(parse(&["client", "remove-key", "x", "k", "--remote"]).is_ok());
        assert!(parse(&["client", "remove-key", "x"]).is_err());
        assert!(parse(&["client", "remove-key", "x", "k", "--jwk", "f"]).is_err());
        assert!(parse(&["client", "rotate-secret", "x", "--jwk", "f"]).is_err());
        assert!(parse(&["client", "update", "x", "--jwk", "f"]).is_err());
        assert!(parse(&["client", "update", "x", "--auth", "private_key_jwt"]).is_err());
        let a = create(&["--name", "x", "--auth", "private_key_jwt", "--jwk", "f"]).unwrap();
        assert_eq!(a.auth, AuthMethod::PrivateKeyJwt);
        assert_eq!(a.keys.jwk.as_deref(), Some("f"));
        assert_eq!(
            create(&["--name", "x"]).unwrap().auth,
            AuthMethod::ClientSecret
        );
        let err = create(&["--name", "x", "--alg", "RS256"]).unwrap_err();
        assert!(err.contains("--jwk"), "{err}");
    }

    #[test]
    fn key_help_explains_the_limit_rotation_and_rsa() {
        let mut cli = Cli::command();
        for sub in ["create", "add-key", "remove-key"] {
            let help = cli
                .find_subcommand_mut("client")
                .and_then(|c| c.find_subcommand_mut(sub))
                .unwrap()
                .render_long_help()
                .to_string();
            for part in [
                "At most 3 keys per client",
                "add-key ID --jwk NEW",
                "remove-key ID OLD_KID",
                "2048 to 4096 bits",
                "--alg RS256|PS256",
                "public key only",
            ] {
                assert!(help.contains(part), "{sub}: {part}: {help}");
            }
        }
    }
}
